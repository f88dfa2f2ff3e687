"""``/api/v1/newsletters``: drafts, sending now or later, cancelling, statistics, tenants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from terminflow.newsletters.models import Newsletter
from tests.conftest import ApiClient, make_workspace
from tests.mail.conftest import make_email
from tests.newsletters.factories import make_readers
from tests.segments.factories import make_contact, make_segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(workspace: Any) -> dict[str, Any]:
    return {
        "email": make_email(workspace, "marketing", name="Frühling"),
        "segment": make_readers(workspace, 4),
    }


def body(setup: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Frühlingsnews",
        "email_id": setup["email"].pk,
        "segment_id": setup["segment"].pk,
        **extra,
    }


def test_a_draft_is_sent_now(api: ApiClient, setup, workspace):
    created = api.post("/api/v1/newsletters", body(setup))
    assert created.status_code == 201, created.json()
    draft = created.json()
    assert (draft["state"], draft["send_at"], draft["progress"]["listed"]) == ("draft", None, 0)

    sent = api.post(f"/api/v1/newsletters/{draft['id']}/send")

    assert sent.status_code == 200
    assert sent.json()["state"] == "sending"
    assert sent.json()["started_at"] is not None
    again = api.post(f"/api/v1/newsletters/{draft['id']}/send")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "The newsletter is being sent; only a draft can be sent.",
        "code": "newsletter_not_draft",
        "state": "sending",
    }
    german = ApiClient(workspace, language="de")
    assert german.post(f"/api/v1/newsletters/{draft['id']}/send").json()["detail"] == (
        "Der Newsletter ist im Versand; nur ein Entwurf kann gesendet werden."
    )


def test_send_at_without_an_offset_is_read_in_the_workspace_zone(api: ApiClient, setup, workspace):
    created = api.post("/api/v1/newsletters", body(setup, send_at="2030-06-01T09:00:00")).json()
    # 09:00 in Zurich in summer is 07:00 UTC.
    assert created["send_at"] == "2030-06-01T07:00:00Z"
    assert Newsletter.objects.get().send_at == datetime(2030, 6, 1, 7, 0, tzinfo=UTC)
    aware = api.post("/api/v1/newsletters", body(setup, send_at="2030-01-10T09:00:00+01:00"))
    assert aware.json()["send_at"] == "2030-01-10T08:00:00Z"

    scheduled = api.post(f"/api/v1/newsletters/{created['id']}/send").json()
    assert scheduled["state"] == "scheduled"
    cancelled = api.post(f"/api/v1/newsletters/{created['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    twice = api.post(f"/api/v1/newsletters/{created['id']}/cancel")
    assert twice.status_code == 409
    assert twice.json() == {
        "detail": "The newsletter is already cancelled.",
        "code": "newsletter_finished",
        "state": "cancelled",
    }
    german = ApiClient(workspace, language="de")
    assert german.post(f"/api/v1/newsletters/{created['id']}/cancel").json()["detail"] == (
        "Der Newsletter ist bereits abgebrochen."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email_id": 999999}, "email_id: email 999999 does not exist."),
        ({"segment_id": 999999}, "segment_id: segment 999999 does not exist."),
        ({"name": "   "}, "name: 1 to 200 characters."),
    ],
)
def test_invalid_newsletters_are_422_and_nothing_is_stored(api, setup, change, message):
    response = api.post("/api/v1/newsletters", body(setup, **change))
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["detail"]) == ("invalid_newsletter", message)
    assert not Newsletter.objects.exists()


def test_only_a_marketing_email_can_be_a_newsletter(api: ApiClient, workspace, setup):
    doi = make_email(workspace, "doi")
    response = api.post("/api/v1/newsletters", body(setup, email_id=doi.pk))
    assert response.status_code == 422
    assert "double opt-in request" in response.json()["detail"]
    assert not Newsletter.objects.exists()


def test_another_workspaces_newsletters_emails_and_segments_are_out_of_reach(api, setup):
    other = make_workspace("Praxis Oerlikon")
    theirs_email = make_email(other, "marketing")
    theirs_segment = make_segment(other, name="Theirs")
    for change in ({"email_id": theirs_email.pk}, {"segment_id": theirs_segment.pk}):
        assert api.post("/api/v1/newsletters", body(setup, **change)).status_code == 422
    theirs = (
        ApiClient(other)
        .post(
            "/api/v1/newsletters",
            {"name": "X", "email_id": theirs_email.pk, "segment_id": theirs_segment.pk},
        )
        .json()
    )
    for method, path in (
        ("get", ""),
        ("get", "/stats"),
        ("post", "/send"),
        ("post", "/cancel"),
    ):
        response = getattr(api, method)(f"/api/v1/newsletters/{theirs['id']}{path}")
        assert response.status_code == 404, path
    assert Newsletter.objects.get(pk=theirs["id"]).state == "draft"
    assert api.get("/api/v1/newsletters").json() == []


def test_stats_of_a_draft_are_zero(api: ApiClient, setup):
    draft = api.post("/api/v1/newsletters", body(setup)).json()
    assert api.get(f"/api/v1/newsletters/{draft['id']}/stats").json() == {
        "sent": 0,
        "delivered": 0,
        "bounced": 0,
        "opened": 0,
        "clicked": 0,
        "unsubscribed": 0,
        "skipped": [],
    }


def test_stats_name_skips_by_a_stable_code_and_the_status_in_the_readers_words(
    workspace: Any, smtp: Any
):
    # given a sent newsletter to one confirmed and one unsubscribed and one blocked contact
    from terminflow.mail.sending import send_due
    from terminflow.newsletters import sending

    email = make_email(workspace, "marketing", name="Frühling")
    for status in ("confirmed_doi", "unsubscribed", "blocked"):
        make_contact(workspace, f"{status}@example.ch", email_status=status, tags=["Alle"])
    segment = make_segment(workspace, {"type": "tags", "match": "any", "tags": ["Alle"]})
    api = ApiClient(workspace)
    created = api.post(
        "/api/v1/newsletters", {"name": "N", "email_id": email.pk, "segment_id": segment.pk}
    ).json()
    api.post(f"/api/v1/newsletters/{created['id']}/send")
    for _ in range(10):
        sending.sweep()
        send_due()

    # when the stats are read in English and in German
    english = api.get(f"/api/v1/newsletters/{created['id']}/stats").json()["skipped"]
    german = (
        ApiClient(workspace, language="de")
        .get(f"/api/v1/newsletters/{created['id']}/stats")
        .json()["skipped"]
    )

    # then the code and the status stay English codes, the reason is in the reader's words
    assert english == [
        {
            "reason": "not confirmed by double opt-in (blocked)",
            "reason_code": "not_confirmed",
            "email_status": "blocked",
            "count": 1,
        },
        {
            "reason": "not confirmed by double opt-in (unsubscribed)",
            "reason_code": "not_confirmed",
            "email_status": "unsubscribed",
            "count": 1,
        },
    ]
    assert german == [
        {
            "reason": "nicht per Double-Opt-in bestätigt (gesperrt)",
            "reason_code": "not_confirmed",
            "email_status": "blocked",
            "count": 1,
        },
        {
            "reason": "nicht per Double-Opt-in bestätigt (abgemeldet)",
            "reason_code": "not_confirmed",
            "email_status": "unsubscribed",
            "count": 1,
        },
    ]
