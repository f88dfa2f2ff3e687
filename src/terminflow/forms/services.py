"""Sign-up form services: the only code that writes forms and their consent versions.

Everything is checked before anything is written: a form's DOI email and contact fields must be
the workspace's own (an id of another workspace is refused like one that does not exist), the
redirect must be an http(s) URL. Changing the consent text makes a new version, so the ledger
entry of every submission names the exact words the person saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext, gettext_lazy

from terminflow.contacts.models import Field
from terminflow.kit.errors import NotFound, Unprocessable
from terminflow.mail.models import EmailKind, EmailTemplate
from terminflow.workspaces.models import Workspace

from .models import ConsentVersion, Form, SubmissionStatus

NAME_MAX_LENGTH = 200
LABEL_MAX_LENGTH = 200
CONSENT_MAX_LENGTH = 5_000
SUCCESS_MAX_LENGTH = 2_000
URL_MAX_LENGTH = 2_000
MAX_FIELDS = 30
MAX_TAGS = 20
TAG_MAX_LENGTH = 100
MAX_ID = 2**63 - 1
# The person's own columns a form can ask for, besides contact fields.
BUILT_IN_FIELDS = ("email", "first_name", "last_name")
# The honeypot: a text input people never see (moved off screen), named like one bots fill in.
HONEYPOT = "website"
BUILT_IN_LABELS = {
    "email": gettext_lazy("Email address"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
}


@dataclass(frozen=True)
class FormData:
    name: str
    doi_email_id: int | None
    consent_text: str
    fields: list[dict[str, Any]] = field(default_factory=list)
    success_message: str = ""
    redirect_url: str = ""
    tags: list[str] = field(default_factory=list)
    active: bool = True


def _refuse(field_key: str, message: Any, **params: Any) -> Unprocessable:
    return Unprocessable(message, extra={"field": field_key}, **params)


def _clean_text(where: str, value: Any, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise _refuse(where, gettext_lazy("%(where)s: must be text."), where=where)
    value = value.strip()
    if "\x00" in value:
        raise _refuse(where, gettext_lazy("%(where)s: contains a NUL character."), where=where)
    if required and not value:
        raise _refuse(where, gettext_lazy("%(where)s: must not be empty."), where=where)
    if len(value) > limit:
        raise _refuse(
            where,
            gettext_lazy("%(where)s: at most %(limit)s characters."),
            where=where,
            limit=limit,
        )
    return value


def _clean_redirect(value: Any) -> str:
    url = _clean_text("redirect_url", value, URL_MAX_LENGTH)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in url for c in " \n"):
        raise _refuse(
            "redirect_url",
            gettext_lazy("redirect_url: '%(url)s' is not an http or https address."),
            url=url[:80],
        )
    return url


def _clean_doi_email(workspace: Workspace, email_id: Any) -> EmailTemplate:
    template = None
    if isinstance(email_id, int) and not isinstance(email_id, bool) and 0 < email_id <= MAX_ID:
        template = EmailTemplate.objects.filter(workspace=workspace, pk=email_id).first()
    if template is None:
        raise _refuse(
            "doi_email_id",
            gettext_lazy("doi_email_id: email %(id)s does not exist."),
            id=email_id,
        )
    if template.kind != EmailKind.DOI:
        raise _refuse(
            "doi_email_id",
            gettext_lazy("doi_email_id: email %(id)s is not a double opt-in email."),
            id=email_id,
        )
    return template


def _default_label(workspace: Workspace, key: str, definitions: dict[str, Field]) -> str:
    if key not in BUILT_IN_FIELDS:
        return definitions[key].label or key
    # The page speaks the workspace's language, so its default labels do too.
    with translation.override(workspace.language):
        return str(BUILT_IN_LABELS[key])


def _clean_fields(workspace: Workspace, fields: Any) -> list[dict[str, Any]]:
    """The form's inputs in order, email first and required; unknown keys are refused."""
    if not isinstance(fields, list):
        raise _refuse("fields", gettext_lazy("fields: must be a list."))
    if len(fields) > MAX_FIELDS:
        raise _refuse("fields", gettext_lazy("fields: at most %(limit)s fields."), limit=MAX_FIELDS)
    definitions = {f.key: f for f in Field.objects.filter(workspace=workspace)}
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in fields:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise _refuse("fields", gettext_lazy("fields: every field needs a key."))
        key = item["key"]
        if key not in BUILT_IN_FIELDS and key not in definitions:
            raise _refuse(
                "fields",
                gettext_lazy("fields: '%(key)s' is not a contact field of this workspace."),
                key=key[:80],
            )
        if key in seen:
            raise _refuse(
                "fields", gettext_lazy("fields: '%(key)s' is listed twice."), key=key[:80]
            )
        seen.add(key)
        label = _clean_text(f"fields.{key}.label", item.get("label") or "", LABEL_MAX_LENGTH)
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise _refuse(
                "fields", gettext_lazy("fields: required must be true or false (%(key)s)."), key=key
            )
        cleaned.append(
            {
                "key": key,
                "label": label or _default_label(workspace, key, definitions),
                "required": required or key == "email",
            }
        )
    email = [f for f in cleaned if f["key"] == "email"]
    rest = [f for f in cleaned if f["key"] != "email"]
    if not email:
        email = [
            {
                "key": "email",
                "label": _default_label(workspace, "email", definitions),
                "required": True,
            }
        ]
    return email + rest


def _clean_tags(tags: Any) -> list[str]:
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise _refuse("tags", gettext_lazy("tags: at most %(limit)s tag names."), limit=MAX_TAGS)
    cleaned: list[str] = []
    for name in tags:
        if not isinstance(name, str) or not name.strip():
            raise _refuse("tags", gettext_lazy("tags: every tag must be non-empty text."))
        name = _clean_text("tags", name, TAG_MAX_LENGTH)
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def _clean(workspace: Workspace, data: FormData) -> dict[str, Any]:
    if not isinstance(data.active, bool):
        raise _refuse("active", gettext_lazy("active: must be true or false."))
    return {
        "name": _clean_text("name", data.name, NAME_MAX_LENGTH, required=True),
        "fields": _clean_fields(workspace, data.fields),
        "doi_email": _clean_doi_email(workspace, data.doi_email_id),
        "consent_text": _clean_text(
            "consent_text", data.consent_text, CONSENT_MAX_LENGTH, required=True
        ),
        "success_message": _clean_text("success_message", data.success_message, SUCCESS_MAX_LENGTH),
        "redirect_url": _clean_redirect(data.redirect_url),
        "tags": _clean_tags(data.tags),
        "active": data.active,
    }


def create_form(workspace: Workspace, data: FormData) -> Form:
    """Save a new form with version 1 of its consent text; ``Unprocessable`` names the problem."""
    values = _clean(workspace, data)
    with transaction.atomic():
        form = Form.objects.create(workspace=workspace, **values)
        ConsentVersion.objects.create(form=form, version=1, text=form.consent_text)
    return form


def update_form(form: Form, data: FormData) -> Form:
    """Replace a form's settings; a changed consent text becomes the next version."""
    values = _clean(form.workspace, data)
    with transaction.atomic():
        current = Form.objects.select_for_update().get(pk=form.pk)
        if values["consent_text"] != current.consent_text:
            values["consent_version"] = current.consent_version + 1
            ConsentVersion.objects.create(
                form=current, version=values["consent_version"], text=values["consent_text"]
            )
        for name, value in values.items():
            setattr(form, name, value)
        form.save()
    return form


def delete_form(form: Form) -> None:
    """Delete the form with its submissions; contacts and their consent ledger stay."""
    form.delete()


def get_form(workspace: Workspace, form_id: Any) -> Form:
    """The workspace's form with this id; ``NotFound`` for another workspace's id."""
    form = None
    if isinstance(form_id, int) and 0 < form_id <= MAX_ID:
        form = (
            Form.objects.select_related("workspace", "doi_email")
            .filter(workspace=workspace, pk=form_id)
            .first()
        )
    if form is None:
        raise NotFound(gettext_lazy("Form %(form_id)s does not exist."), form_id=form_id)
    return form


def list_forms(workspace: Workspace) -> list[Form]:
    """The workspace's forms with ``submission_count`` and ``confirmed_count`` annotated
    (the sign-ups deleted after the retention period included)."""
    return list(
        Form.objects.filter(workspace=workspace)
        .select_related("doi_email")
        .annotate(
            submission_count=Count("submissions") + F("pruned_submissions"),
            confirmed_count=Count(
                "submissions", filter=Q(submissions__status=SubmissionStatus.CONFIRMED)
            )
            + F("pruned_confirmed"),
        )
        .order_by("id")
    )


def counts(form: Form) -> dict[str, int]:
    """How many sign-ups the form had, and how many of them were confirmed, the ones deleted
    after the retention period (``forms.retention``) included."""
    found = form.submissions.aggregate(
        total=Count("id"), confirmed=Count("id", filter=Q(status=SubmissionStatus.CONFIRMED))
    )
    return {
        "submissions": found["total"] + form.pruned_submissions,
        "confirmed": found["confirmed"] + form.pruned_confirmed,
    }


def public_form(public_id: str) -> Form | None:
    """The form behind a public URL, when it takes sign-ups (active, with its DOI email)."""
    if not isinstance(public_id, str) or len(public_id) > 32:
        return None
    return (
        Form.objects.select_related("workspace", "doi_email")
        .filter(public_id=public_id, active=True, doi_email__isnull=False)
        .first()
    )


def consent_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hosted_url(form: Form) -> str:
    return settings.BASE_URL + reverse("forms:page", kwargs={"public_id": form.public_id})


def embed_snippet(form: Form) -> str:
    """The plain HTML form to paste into any website: no script, posts straight to us."""
    definitions = {f.key: f for f in Field.objects.filter(workspace_id=form.workspace_id)}
    lines = [f'<form method="post" action="{escape(hosted_url(form))}" accept-charset="utf-8">']
    for item in form.fields:
        key = item["key"]
        definition = definitions.get(key)
        kind = "email" if key == "email" else input_type(definition)
        name = f"field_{key}" if definition is not None else key
        required = " required" if item["required"] else ""
        label = escape(item["label"])
        if kind == "checkbox":
            lines.append(
                f'  <p><label><input type="checkbox" name="{name}" value="1"{required}> '
                f"{label}</label></p>"
            )
        elif kind == "select" and definition is not None:
            options = "".join(
                f'<option value="{escape(o)}">{escape(o)}</option>' for o in definition.options
            )
            lines.append(
                f'  <p><label>{label}<br><select name="{name}"{required}>'
                f'<option value=""></option>{options}</select></label></p>'
            )
        else:
            lines.append(
                f'  <p><label>{label}<br><input type="{kind}" name="{name}"{required}></label></p>'
            )
    lines.append(
        f'  <p style="position:absolute;left:-10000px" aria-hidden="true">'
        f'<input type="text" name="{HONEYPOT}" tabindex="-1" autocomplete="off"></p>'
    )
    with translation.override(form.workspace.language):
        button = escape(gettext("Sign up"))
    lines.append(f"  <p><small>{escape(form.consent_text)}</small></p>")
    lines.append(f'  <p><button type="submit">{button}</button></p>')
    lines.append("</form>")
    return "\n".join(lines)


def input_type(definition: Field | None) -> str:
    """The HTML input for a contact field's type (text for names and text fields)."""
    if definition is None:
        return "text"
    return {
        "number": "number",
        "date": "date",
        "datetime": "datetime-local",
        "checkbox": "checkbox",
        "select": "select",
    }.get(definition.type, "text")
