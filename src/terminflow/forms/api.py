"""Sign-up forms: ``/api/v1/forms`` (DESIGN §5). The public page is ``views.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from terminflow.workspaces.api import current_workspace

from . import services
from .models import Form

router = Router(tags=["Forms"])


class FormFieldIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        min_length=1,
        max_length=64,
        description="email, first_name, last_name or the key of a contact field (/api/v1/fields).",
    )
    label: str = Field(default="", max_length=200, description="Empty: the field's own label.")
    required: bool = False


class FormIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    fields: list[FormFieldIn] = Field(
        default_factory=list,
        max_length=services.MAX_FIELDS,
        description="The inputs in order; email is always there, first and required.",
    )
    doi_email_id: int = Field(description="The double opt-in email (kind doi) a sign-up gets.")
    consent_text: str = Field(
        min_length=1,
        max_length=services.CONSENT_MAX_LENGTH,
        description="Shown under the form; each change is a new version, named in the ledger.",
    )
    success_message: str = Field(
        default="",
        max_length=services.SUCCESS_MAX_LENGTH,
        description="The thank-you text of the hosted page; empty: a standard text.",
    )
    redirect_url: str = Field(
        default="",
        max_length=services.URL_MAX_LENGTH,
        description="An http(s) page to send people to after signing up, instead of the text.",
    )
    tags: list[str] = Field(
        default_factory=list,
        max_length=services.MAX_TAGS,
        description="Added to the contact when the sign-up is confirmed.",
    )
    active: bool = True


class FormFieldOut(Schema):
    key: str
    label: str
    required: bool


class FormOut(Schema):
    id: int
    public_id: str
    name: str
    fields: list[FormFieldOut]
    doi_email_id: int | None
    consent_text: str
    consent_version: int
    success_message: str
    redirect_url: str
    tags: list[str]
    active: bool
    url: str = Field(description="The hosted page; the snippet's form posts here too.")
    embed_html: str = Field(description="A plain HTML form (no script) for any website.")
    submissions: int
    confirmed: int
    created_at: datetime
    updated_at: datetime


def _out(form: Form) -> dict[str, Any]:
    return {
        "id": form.pk,
        "public_id": form.public_id,
        "name": form.name,
        "fields": form.fields,
        "doi_email_id": form.doi_email_id,
        "consent_text": form.consent_text,
        "consent_version": form.consent_version,
        "success_message": form.success_message,
        "redirect_url": form.redirect_url,
        "tags": form.tags,
        "active": form.active,
        "url": services.hosted_url(form),
        "embed_html": services.embed_snippet(form),
        **(
            {"submissions": form.submission_count, "confirmed": form.confirmed_count}  # type: ignore[attr-defined]
            if hasattr(form, "submission_count")
            else services.counts(form)
        ),
        "created_at": form.created_at,
        "updated_at": form.updated_at,
    }


def _data(payload: FormIn) -> services.FormData:
    values = payload.dict()
    return services.FormData(**values)


@router.get("", response=list[FormOut])
def list_forms(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(form) for form in services.list_forms(current_workspace(request))]


@router.post("", response={201: FormOut})
def create_form(request: HttpRequest, payload: FormIn) -> Status:
    """422 with the reason when a field, the DOI email or the redirect is not acceptable."""
    form = services.create_form(current_workspace(request), _data(payload))
    return Status(201, _out(form))


@router.get("/{form_id}", response=FormOut)
def get_form(request: HttpRequest, form_id: int) -> dict[str, Any]:
    return _out(services.get_form(current_workspace(request), form_id))


@router.put("/{form_id}", response=FormOut)
def update_form(request: HttpRequest, form_id: int, payload: FormIn) -> dict[str, Any]:
    """A changed consent text becomes the next ``consent_version``."""
    form = services.get_form(current_workspace(request), form_id)
    return _out(services.update_form(form, _data(payload)))


@router.delete("/{form_id}", response={204: None})
def delete_form(request: HttpRequest, form_id: int) -> Status:
    """The form and its submissions; contacts and their consent ledger stay."""
    services.delete_form(services.get_form(current_workspace(request), form_id))
    return Status(204, None)
