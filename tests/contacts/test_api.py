from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.apps import apps

from terminflow.contacts import consent, signals
from terminflow.contacts import notes as contact_notes
from terminflow.contacts import services as contact_service
from terminflow.contacts import tags as contact_tags
from terminflow.contacts.models import ConsentEvent, Contact, Field, Note, Tag
from terminflow.kit import crypto
from terminflow.workspaces.models import Role
from tests.conftest import ApiClient, make_workspace
from tests.web.conftest import logged_in, make_user

from .factories import captured, make_contact, make_field

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


# -- fields ----------------------------------------------------------------------------------


def test_create_and_list_fields(api):
    # when
    created = api.post(
        "/api/v1/fields",
        {"key": "plan", "label": "Plan", "type": "select", "options": ["Basic", "Premium"]},
    )
    api.post("/api/v1/fields", {"key": "appointment_start", "type": "datetime"})
    listed = api.get("/api/v1/fields")
    # then
    assert created.status_code == 201
    assert created.json() == {
        "key": "plan",
        "label": "Plan",
        "type": "select",
        "options": ["Basic", "Premium"],
    }
    assert listed.status_code == 200
    assert listed.json() == [
        {"key": "plan", "label": "Plan", "type": "select", "options": ["Basic", "Premium"]},
        {
            "key": "appointment_start",
            "label": "appointment_start",
            "type": "datetime",
            "options": [],
        },
    ]


def test_duplicate_field_key_is_409(api):
    make_field(api.workspace, "plan", "text")
    response = api.post("/api/v1/fields", {"key": "plan", "label": "Plan", "type": "number"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A field with the key 'plan' already exists.",
        "code": "conflict",
    }
    assert list(Field.objects.values_list("type", flat=True)) == ["text"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"key": "plan", "type": "colour"}, "'colour' is not a field type; use one of: "),
        ({"key": "plan", "type": "select"}, "options: a select field needs a list"),
        ({"key": "Plan!", "type": "text"}, "'Plan!' is not a field key"),
        ({"type": "text"}, "Key: required."),
    ],
)
def test_bad_field_is_422_and_nothing_is_stored(api, body, detail):
    response = api.post("/api/v1/fields", body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert detail in response.json()["detail"]
    assert Field.objects.count() == 0


def test_fields_of_another_workspace_are_not_listed(api):
    make_field(make_workspace("Praxis Enge"), "plan", "text")
    assert api.get("/api/v1/fields").json() == []


# -- create and read contacts --------------------------------------------------------------


def test_create_contact_returns_the_contact_in_the_contract_shape(api):
    # given
    make_field(api.workspace, "appointment_start", "datetime")
    # when
    with time_machine.travel(NOON, tick=False):
        response = api.post(
            "/api/v1/contacts",
            {
                "email": "Anna.Muster@Example.CH",
                "first_name": "Anna",
                "last_name": "Muster",
                "phone": "044 668 18 00",
                "fields": {"appointment_start": "2026-12-14T09:00"},
                "tags": ["vip"],
            },
        )
    # then
    assert response.status_code == 201
    contact = Contact.objects.get()
    assert response.json() == {
        "id": contact.pk,
        "email": "anna.muster@example.ch",
        "first_name": "Anna",
        "last_name": "Muster",
        "phone": "+41446681800",
        "email_status": "unknown",
        "fields": {"appointment_start": "2026-12-14T08:00:00+00:00"},
        "tags": ["vip"],
        "notes": [],
        "created_at": "2026-12-01T11:00:00Z",
        "updated_at": "2026-12-01T11:00:00Z",
    }
    assert api.get(f"/api/v1/contacts/{contact.pk}").json() == response.json()


def test_contact_shows_its_notes(api):
    contact = make_contact(api.workspace)
    with time_machine.travel(NOON, tick=False):
        contact_notes.add_note(contact, "Bitte Parkplatz", source="etermin", source_key="k")
    body = api.get(f"/api/v1/contacts/{contact.pk}").json()
    assert body["notes"] == [
        {"text": "Bitte Parkplatz", "source": "etermin", "created_at": "2026-12-01T11:00:00Z"}
    ]


def test_duplicate_email_in_other_case_is_409_conflict(api):
    # given
    existing = make_contact(api.workspace, "anna@example.ch")
    # when
    response = api.post("/api/v1/contacts", {"email": "ANNA@example.ch", "first_name": "X"})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A contact with the email address anna@example.ch already exists.",
        "code": "conflict",
        "contact_id": existing.pk,
    }
    assert list(Contact.objects.values_list("first_name", flat=True)) == [""]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"email": "anna@"}, "'anna@' is not an email address: "),
        ({"email": "anna@example.ch", "phone": "12"}, "'12' is not a valid phone number; "),
        ({"email": "anna@example.ch", "email_status": "vip"}, "'vip' is not an email status"),
        ({"email": "anna@example.ch", "fields": {"visits": "many"}}, "visits: 'many' is not"),
        ({"email": "anna@example.ch", "fields": {"nope": 1}}, "nope: no such field"),
        ({"email": "anna@example.ch", "tags": "vip"}, "Tags: must be a list."),
        ({"first_name": "Anna"}, "Email address: required."),
        ({"email": "anna@example.ch", "first_name": "A\u0000"}, "first_name: contains a NUL"),
    ],
)
def test_bad_contact_is_422_and_nothing_is_stored(api, body, detail):
    # given
    make_field(api.workspace, "visits", "number")
    # when
    response = api.post("/api/v1/contacts", body)
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert detail in response.json()["detail"]
    assert Contact.objects.count() == 0
    assert Tag.objects.count() == 0
    assert ConsentEvent.objects.count() == 0


def test_malformed_json_body_is_a_4xx_and_nothing_is_stored(api):
    response = api._client.post(
        "/api/v1/contacts", data="{not json", content_type="application/json"
    )
    assert 400 <= response.status_code < 500
    assert Contact.objects.count() == 0


# -- list, filters and paging ----------------------------------------------------------------


def test_list_filters_by_email_case_insensitively(api):
    anna = make_contact(api.workspace, "anna@example.ch")
    make_contact(api.workspace, "bert@example.ch")
    assert ids(api.get("/api/v1/contacts?email=ANNA@Example.ch")) == [anna.pk]
    assert ids(api.get("/api/v1/contacts?email=nobody@example.ch")) == []
    assert ids(api.get("/api/v1/contacts?email=not-an-address")) == []


def test_list_filters_by_status_tag_and_search(api):
    # given
    anna = make_contact(api.workspace, "anna@example.ch", first_name="Anna", tags=["vip"])
    bert = make_contact(
        api.workspace, "bert@praxis.ch", last_name="Annasohn", email_status="confirmed_doi"
    )
    carla = make_contact(api.workspace, "carla@example.ch", tags=["vip"])
    # then
    assert ids(api.get("/api/v1/contacts?status=confirmed_doi")) == [bert.pk]
    assert ids(api.get("/api/v1/contacts?tag=vip")) == [carla.pk, anna.pk]
    assert ids(api.get("/api/v1/contacts?tag=unknown")) == []
    assert ids(api.get("/api/v1/contacts?q=ANNA")) == [bert.pk, anna.pk]
    assert ids(api.get("/api/v1/contacts?q=praxis")) == [bert.pk]
    assert ids(api.get("/api/v1/contacts?q=anna&tag=vip")) == [anna.pk]
    assert ids(api.get("/api/v1/contacts?status=unknown&tag=vip&q=carla")) == [carla.pk]


def test_list_pages_newest_first_with_a_cursor(api):
    # given
    made = [make_contact(api.workspace, f"p{i}@example.ch").pk for i in range(5)]
    # when
    first = api.get("/api/v1/contacts?limit=2").json()
    second = api.get(f"/api/v1/contacts?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/api/v1/contacts?limit=2&cursor={second['next_cursor']}").json()
    # then
    assert [c["id"] for c in first["items"]] == [made[4], made[3]]
    assert [c["id"] for c in second["items"]] == [made[2], made[1]]
    assert [c["id"] for c in third["items"]] == [made[0]]
    assert third["next_cursor"] is None


def test_list_pages_by_tag_with_a_cursor(api):
    made = [make_contact(api.workspace, f"p{i}@example.ch", tags=["t"]).pk for i in range(3)]
    make_contact(api.workspace, "untagged@example.ch")
    first = api.get("/api/v1/contacts?tag=t&limit=2").json()
    second = api.get(f"/api/v1/contacts?tag=t&limit=2&cursor={first['next_cursor']}").json()
    assert [c["id"] for c in first["items"]] == [made[2], made[1]]
    assert [c["id"] for c in second["items"]] == [made[0]]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("cursor=garbage", "cursor: not a cursor this API returned"),
        ("limit=0", "Limit: must be at least 1."),
        ("limit=201", "Limit: may be at most 200."),
        ("status=vip", "'vip' is not an email status"),
        ("q=a%00b", "q: contains a NUL character."),
    ],
)
def test_bad_list_parameters_are_422(api, query, detail):
    response = api.get(f"/api/v1/contacts?{query}")
    assert response.status_code == 422
    assert detail in response.json()["detail"]


# -- update and delete -----------------------------------------------------------------------


def test_patch_changes_only_the_given_keys(api):
    # given
    make_field(api.workspace, "plan", "text")
    make_field(api.workspace, "visits", "number")
    contact = make_contact(
        api.workspace,
        first_name="Anna",
        last_name="Muster",
        fields={"plan": "Gold", "visits": 2},
        tags=["a", "b"],
    )
    # when
    response = api.patch(
        f"/api/v1/contacts/{contact.pk}",
        {"last_name": "Meier", "fields": {"visits": None, "plan": "Silver"}, "tags": ["b", "c"]},
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["first_name"], body["last_name"], body["fields"], body["tags"]) == (
        "Anna",
        "Meier",
        {"plan": "Silver"},
        ["b", "c"],
    )
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.last_name, stored.fields) == ("Meier", {"plan": "Silver"})


def test_patch_to_a_taken_email_is_409_and_changes_nothing(api):
    make_contact(api.workspace, "anna@example.ch")
    bert = make_contact(api.workspace, "bert@example.ch")
    response = api.patch(
        f"/api/v1/contacts/{bert.pk}", {"email": "ANNA@example.ch", "first_name": "B"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    stored = Contact.objects.get(pk=bert.pk)
    assert (stored.email, stored.first_name) == ("bert@example.ch", "")


def test_patch_with_an_invalid_value_is_422_and_changes_nothing(api):
    make_field(api.workspace, "visits", "number")
    contact = make_contact(api.workspace, first_name="Anna")
    response = api.patch(
        f"/api/v1/contacts/{contact.pk}", {"first_name": "Berta", "fields": {"visits": "x"}}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "visits: 'x' is not a number."
    assert Contact.objects.get(pk=contact.pk).first_name == "Anna"


def test_patch_email_status_lands_in_the_consent_ledger(api):
    # given
    contact = make_contact(api.workspace)
    # when
    with time_machine.travel(NOON, tick=False):
        api.patch(f"/api/v1/contacts/{contact.pk}", {"email_status": "confirmed_manual"})
    # then
    response = api.get(f"/api/v1/contacts/{contact.pk}/consent")
    assert response.status_code == 200
    assert response.json() == [
        {
            "kind": "status_changed",
            "kind_label": "Email status changed",
            "occurred_at": "2026-12-01T11:00:00Z",
            "source": "api",
            "source_label": "api",
            "details": {"from": "unknown", "to": "confirmed_manual"},
            "ip": None,
            "user_agent": "",
        }
    ]


DOI_BY_HAND_DE = (
    "Nur der Kontakt selbst kann ein Double-Opt-in bestätigen, mit dem Link in der "
    "Double-Opt-in-E-Mail; den Status „Bestätigt (Double-Opt-in)“ kann niemand von Hand setzen."
)
DOI_BY_HAND_EN = (
    "Only the contact can confirm a double opt-in, by the link in the double opt-in email; "
    "the status “confirmed (double opt-in)” cannot be set by hand."
)


def test_post_contact_as_confirmed_doi_is_422_and_stores_nothing(api):
    # when
    with captured(signals.doi_confirmed) as confirmed:
        german = api.post(
            "/api/v1/contacts",
            {"email": "new@example.com", "email_status": "confirmed_doi", "tags": ["x"]},
            HTTP_ACCEPT_LANGUAGE="de",
        )
        english = api.post(
            "/api/v1/contacts",
            {"email": "new@example.com", "email_status": "confirmed_doi"},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    # then
    assert german.status_code == 422
    assert german.json() == {
        "detail": DOI_BY_HAND_DE,
        "code": "doi_by_hand",
        "field": "email_status",
    }
    assert english.json()["detail"] == DOI_BY_HAND_EN
    assert (Contact.objects.count(), ConsentEvent.objects.count(), Tag.objects.count()) == (0, 0, 0)
    assert confirmed == []


@pytest.mark.parametrize("status", ["unknown", "confirmed_soi", "unsubscribed"])
def test_patch_to_confirmed_doi_is_422_and_changes_nothing(api, status):
    # given
    contact = make_contact(api.workspace, first_name="Anna", email_status=status)
    events = ConsentEvent.objects.count()
    # when
    with captured(signals.doi_confirmed) as confirmed:
        response = api.patch(
            f"/api/v1/contacts/{contact.pk}",
            {"first_name": "Berta", "email_status": "confirmed_doi"},
        )
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "doi_by_hand"
    stored = Contact.objects.get(pk=contact.pk)
    assert (stored.first_name, stored.email_status) == ("Anna", status)
    assert ConsentEvent.objects.count() == events
    assert confirmed == []


def test_a_contact_confirmed_by_doi_keeps_its_status_through_a_patch(api):
    # given a contact who confirmed the double opt-in
    contact = make_contact(api.workspace)
    consent.set_email_status(contact, "confirmed_doi", source="doi_link")
    # when the whole contact is sent back, status unchanged
    response = api.patch(
        f"/api/v1/contacts/{contact.pk}", {"first_name": "Berta", "email_status": "confirmed_doi"}
    )
    # then
    assert response.status_code == 200
    assert response.json()["email_status"] == "confirmed_doi"
    assert Contact.objects.get(pk=contact.pk).first_name == "Berta"


def test_session_editor_cannot_set_confirmed_doi_either(workspace):
    # given
    contact = make_contact(workspace)
    editor = logged_in(make_user("editor@praxis.example", workspace, Role.EDITOR))
    # when
    response = editor.patch(
        f"/api/v1/contacts/{contact.pk}",
        {"email_status": "confirmed_doi"},
        content_type="application/json",
    )
    # then
    assert response.status_code == 422
    assert response.json()["code"] == "doi_by_hand"
    assert Contact.objects.get(pk=contact.pk).email_status == "unknown"


def test_delete_contact(api):
    contact = make_contact(api.workspace, tags=["vip"])
    response = api.delete(f"/api/v1/contacts/{contact.pk}")
    assert response.status_code == 204
    assert Contact.objects.count() == 0
    assert api.get(f"/api/v1/contacts/{contact.pk}").status_code == 404


# -- consent ledger and appointments ---------------------------------------------------------


def test_consent_ledger_is_read_only_over_the_api(api):
    # given
    contact = make_contact(api.workspace)
    consent.record_consent(contact, "doi_requested", source="campaign")
    url = f"/api/v1/contacts/{contact.pk}/consent"
    # when
    responses = [
        api.post(url, {"kind": "doi_confirmed"}),
        api.put(url, []),
        api.patch(url, {}),
        api.delete(url),
    ]
    # then
    assert [r.status_code for r in responses] == [405, 405, 405, 405]
    assert list(ConsentEvent.objects.values_list("kind", flat=True)) == ["doi_requested"]


def make_account(workspace, name="Praxis"):
    account_model = apps.get_model("etermin", "EterminAccount")
    token = crypto.new_token(16)
    return account_model.objects.create(
        workspace=workspace,
        name=name,
        public_key="pub",
        private_key_encrypted=crypto.encrypt("secret"),
        web_push_token_encrypted=crypto.encrypt(token),
        web_push_token_hash=crypto.token_hash(token),
    )


def test_contact_appointments_come_from_the_registry(api):
    # given
    contact = make_contact(api.workspace)
    other = make_contact(api.workspace, "other@example.ch")
    account = make_account(api.workspace)
    appointment_model = apps.get_model("etermin", "Appointment")
    common = {"workspace": api.workspace, "account": account, "calendar_name": "Praxis 1"}
    appointment_model.objects.create(
        **common,
        uid="later",
        contact=contact,
        calendar_id="211614",
        start=datetime(2026, 12, 14, 8, 0, tzinfo=UTC),
        end=datetime(2026, 12, 14, 8, 30, tzinfo=UTC),
        notes="Bitte Parkplatz",
    )
    appointment_model.objects.create(
        **common,
        uid="earlier",
        contact=contact,
        calendar_id="211614",
        start=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        end=datetime(2026, 12, 7, 8, 30, tzinfo=UTC),
        status="deleted",
    )
    appointment_model.objects.create(**common, uid="someone-else", contact=other)
    # when
    response = api.get(f"/api/v1/contacts/{contact.pk}/appointments")
    # then
    assert response.status_code == 200
    assert response.json() == [
        {
            "account_id": account.pk,
            "appointment_uid": "earlier",
            "calendar_id": 211614,
            "calendar_name": "Praxis 1",
            "start": "2026-12-07T08:00:00Z",
            "end": "2026-12-07T08:30:00Z",
            "status": "deleted",
            "notes": "",
        },
        {
            "account_id": account.pk,
            "appointment_uid": "later",
            "calendar_id": 211614,
            "calendar_name": "Praxis 1",
            "start": "2026-12-14T08:00:00Z",
            "end": "2026-12-14T08:30:00Z",
            "status": "active",
            "notes": "Bitte Parkplatz",
        },
    ]


# -- workspace isolation and auth ------------------------------------------------------------


def test_another_workspaces_contact_is_404_everywhere(api):
    # given
    theirs = make_contact(make_workspace("Praxis Enge"), "anna@example.ch", first_name="Anna")
    base = f"/api/v1/contacts/{theirs.pk}"
    # when
    responses = [
        api.get(base),
        api.patch(base, {"first_name": "Mallory"}),
        api.delete(base),
        api.get(f"{base}/appointments"),
        api.get(f"{base}/consent"),
    ]
    # then
    assert [r.status_code for r in responses] == [404] * 5
    assert responses[0].json() == {
        "detail": f"No contact with id {theirs.pk} in this workspace.",
        "code": "not_found",
    }
    assert ids(api.get("/api/v1/contacts")) == []
    assert ids(api.get("/api/v1/contacts?email=anna@example.ch")) == []
    assert Contact.objects.get(pk=theirs.pk).first_name == "Anna"


def test_same_email_can_be_created_in_another_workspace(api, api_for):
    make_contact(make_workspace("Praxis Enge"), "anna@example.ch")
    response = api.post("/api/v1/contacts", {"email": "anna@example.ch"})
    assert response.status_code == 201
    assert Contact.objects.filter(email="anna@example.ch").count() == 2


def test_huge_or_non_numeric_ids_are_not_500(api):
    assert api.get(f"/api/v1/contacts/{2**70}").status_code == 404
    assert api.get("/api/v1/contacts/abc").status_code == 422


def test_contacts_need_a_token(client):
    response = client.get("/api/v1/contacts")
    assert response.status_code == 401
    assert Note.objects.count() == 0


# -- managing tags and field definitions -------------------------------------------------------


def _tag_names(contact: Contact) -> list[str]:
    contact.refresh_from_db()
    return contact_tags.tag_names(contact)


def test_list_tags_with_contact_counts(api):
    # given
    make_contact(api.workspace, tags=["vip", "newsletter"])
    make_contact(api.workspace, "beat@example.ch", tags=["vip"])
    make_contact(make_workspace("Praxis Enge"), tags=["foreign"])
    # when
    response = api.get("/api/v1/tags")
    # then
    assert response.status_code == 200
    assert response.json() == [
        {"name": "newsletter", "contact_count": 1},
        {"name": "vip", "contact_count": 2},
    ]


def test_rename_tag(api):
    # given
    anna = make_contact(api.workspace, tags=["vip"])
    # when
    response = api.patch("/api/v1/tags/vip", {"name": "gold"})
    # then
    assert response.status_code == 200
    assert response.json() == {"name": "gold", "contact_count": 1}
    assert _tag_names(anna) == ["gold"]


def test_rename_tag_to_a_taken_name_is_409_and_changes_nothing(api):
    # given
    anna = make_contact(api.workspace, tags=["vip", "gold"])
    # when
    response = api.patch("/api/v1/tags/vip", {"name": "gold"})
    # then
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A tag called 'gold' already exists.",
        "code": "conflict",
    }
    assert _tag_names(anna) == ["gold", "vip"]


def test_rename_tag_to_an_empty_name_is_422(api):
    anna = make_contact(api.workspace, tags=["vip"])
    response = api.patch("/api/v1/tags/vip", {"name": " "})
    assert response.status_code == 422
    assert response.json()["detail"] == "name: a tag needs a name."
    assert _tag_names(anna) == ["vip"]


def test_tags_of_another_workspace_cannot_be_changed(api):
    # given
    stranger = make_contact(make_workspace("Praxis Enge"), tags=["vip"])
    # when
    renamed = api.patch("/api/v1/tags/vip", {"name": "gold"})
    deleted = api.delete("/api/v1/tags/vip")
    # then
    assert renamed.status_code == 404
    assert deleted.status_code == 404
    assert _tag_names(stranger) == ["vip"]


def test_delete_tag_removes_it_from_contacts(api):
    # given
    anna = make_contact(api.workspace, tags=["vip", "gold"])
    # when
    response = api.delete("/api/v1/tags/vip")
    # then
    assert response.status_code == 200
    assert response.json() == {"contacts_changed": 1}
    assert _tag_names(anna) == ["gold"]
    assert not Tag.objects.filter(name="vip").exists()


def test_patch_field_relabels_it(api):
    # given
    make_field(api.workspace, "plan", "select", options=["Basic"])
    # when
    response = api.patch("/api/v1/fields/plan", {"label": "Tarif"})
    # then
    assert response.status_code == 200
    assert response.json() == {
        "key": "plan",
        "label": "Tarif",
        "type": "select",
        "options": ["Basic"],
    }


def test_patch_field_with_bad_options_is_422_and_changes_nothing(api):
    make_field(api.workspace, "plan", "select", options=["Basic"])
    response = api.patch("/api/v1/fields/plan", {"label": "Tarif", "options": []})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "options: a select field needs a list of at least one option."
    )
    field = Field.objects.get(workspace=api.workspace, key="plan")
    assert (field.label, field.options) == ("Plan", ["Basic"])


def test_delete_field_removes_values(api):
    # given
    make_field(api.workspace, "city", "text")
    anna = make_contact(api.workspace, fields={"city": "Zürich"})
    # when
    response = api.delete("/api/v1/fields/city")
    # then
    assert response.status_code == 200
    assert response.json() == {"contacts_changed": 1}
    anna.refresh_from_db()
    assert anna.fields == {}
    assert api.get("/api/v1/fields").json() == []


def test_delete_field_used_by_an_active_campaign_is_409(api):
    # given
    make_field(api.workspace, "city", "text")
    anna = make_contact(api.workspace, fields={"city": "Zürich"})
    campaign = apps.get_model("campaigns", "Campaign").objects.create(
        workspace=api.workspace, name="Recall", status="active"
    )
    apps.get_model("campaigns", "Element").objects.create(
        campaign=campaign, key="e1", type="x", kind="condition", config={"field": "city"}
    )
    # when
    response = api.delete("/api/v1/fields/city")
    # then
    assert response.status_code == 409
    assert response.json()["campaigns"] == ["Recall"]
    anna.refresh_from_db()
    assert anna.fields == {"city": "Zürich"}


def test_fields_of_another_workspace_cannot_be_changed(api):
    # given
    other = make_workspace("Praxis Enge")
    make_field(other, "city", "text")
    # when
    patched = api.patch("/api/v1/fields/city", {"label": "Ort"})
    deleted = api.delete("/api/v1/fields/city")
    # then
    assert patched.status_code == 404
    assert deleted.status_code == 404
    assert Field.objects.get(workspace=other, key="city").label == "City"


def test_tag_names_with_slashes_and_spaces_are_reachable(api):
    # given
    anna = make_contact(api.workspace, tags=["Kurs 3/4"])
    # when
    renamed = api.patch("/api/v1/tags/Kurs%203%2F4", {"name": "Kurs A"})
    deleted = api.delete("/api/v1/tags/Kurs%20A")
    # then
    assert renamed.json() == {"name": "Kurs A", "contact_count": 1}
    assert deleted.json() == {"contacts_changed": 1}
    assert _tag_names(anna) == []


def test_the_consent_ledger_names_kind_and_source_in_the_reader_s_language(workspace):
    # given a contact who confirmed by the double opt-in link and one from an eTermin booking
    contact = contact_service.create_contact(workspace, email="lea@example.ch")
    consent.record_consent(contact, "doi_confirmed", source="double opt-in link")
    consent.record_consent(contact, "soi", source="etermin")

    # when the ledger is read in German
    german = ApiClient(workspace, language="de")
    events = german.get(f"/api/v1/contacts/{contact.pk}/consent").json()

    # then kind and source read as words, the stored codes stay as they were
    assert [(e["kind"], e["kind_label"], e["source"], e["source_label"]) for e in events] == [
        ("doi_confirmed", "Double-Opt-in bestätigt", "double opt-in link", "Double-Opt-in-Link"),
        ("soi", "Single-Opt-in", "etermin", "eTermin-Buchung"),
    ]
