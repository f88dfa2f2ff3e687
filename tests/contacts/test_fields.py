"""Field definitions: what keeps a field from being deleted is asked of the apps above contacts.

(The campaigns app's own check, registered from its ``AppConfig.ready``, is tested with live and
draft campaigns in ``test_services.py``.)
"""

from __future__ import annotations

import pytest

from terminflow.contacts import fields as contact_fields
from terminflow.kit.errors import Conflict
from terminflow.workspaces.models import Workspace

from .factories import make_contact, make_field


def test_every_registered_user_of_a_field_is_named_and_nothing_is_deleted(workspace, monkeypatch):
    # given a field with values, and two checks besides the campaigns' own, naming "B", "A" and "A"
    monkeypatch.setattr(contact_fields, "_FIELD_USERS", list(contact_fields._FIELD_USERS))

    def first_check(ws: Workspace, key: str) -> list[str]:
        return ["B", "A"] if (ws, key) == (workspace, "city") else []

    def second_check(ws: Workspace, key: str) -> list[str]:
        return ["A"] if key == "city" else []

    assert contact_fields.register_field_users(first_check) is first_check
    contact_fields.register_field_users(second_check)
    contact_fields.register_field_users(first_check)  # twice: still asked once
    make_field(workspace, "city", "text")
    anna = make_contact(workspace, fields={"city": "Zürich"})

    # when the field is deleted
    with pytest.raises(Conflict) as raised:
        contact_fields.delete_field(workspace, "city")

    # then every name is given once, sorted, and the field and its value stay
    assert raised.value.as_dict()["campaigns"] == ["A", "B"]
    assert contact_fields.field_users(workspace, "city") == ["A", "B"]
    anna.refresh_from_db()
    assert anna.fields == {"city": "Zürich"}
    assert [f.key for f in contact_fields.list_fields(workspace)] == ["city"]


def test_a_field_no_registered_user_names_is_deleted(workspace, monkeypatch):
    # given a registered user that names other fields only
    monkeypatch.setattr(contact_fields, "_FIELD_USERS", list(contact_fields._FIELD_USERS))
    contact_fields.register_field_users(lambda ws, key: ["Recall"] if key == "phone2" else [])
    make_field(workspace, "city", "text")
    anna = make_contact(workspace, fields={"city": "Zürich"})

    # when the field is deleted
    changed = contact_fields.delete_field(workspace, "city")

    # then it is gone, with its value
    assert changed == 1
    anna.refresh_from_db()
    assert anna.fields == {}
    assert contact_fields.list_fields(workspace) == []
