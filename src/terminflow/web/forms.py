"""Forms of the pages; they validate input, the services write."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from terminflow.workspaces.models import User
from terminflow.workspaces.services import MAX_RETENTION_DAYS


class LoginForm(forms.Form):
    email = forms.EmailField(label=pgettext_lazy("address", "Email"), max_length=254)
    password = forms.CharField(label=_("Password"), strip=False, widget=forms.PasswordInput)

    def __init__(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.request = request
        self.user = None
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["password"].widget.attrs.update({"autocomplete": "current-password"})

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        email, password = cleaned.get("email"), cleaned.get("password")
        if email and password:
            # Logins are case-insensitive on the email, whatever case the account was made with.
            known = User.objects.filter(email__iexact=email.strip()).first()
            username = known.get_username() if known else email.lower()
            self.user = authenticate(self.request, username=username, password=password)
            if self.user is None or not self.user.is_active:
                raise forms.ValidationError(_("Email or password is wrong."), code="invalid_login")
        return cleaned


def _timezone_choices() -> list[tuple[str, Any]]:
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return [("", _("Like the workspace")), *((z, z.replace("_", " ")) for z in zones)]


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False)
    timezone = forms.ChoiceField(label=_("Time zone"), required=False)

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [("", _("Like the workspace")), *settings.LANGUAGES]
        self.fields["timezone"].choices = _timezone_choices()


class EterminAccountForm(forms.Form):
    name = forms.CharField(label=_("Account name"), max_length=200)
    private_key = forms.CharField(
        label=_("Private API key"),
        max_length=1000,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    public_key = forms.CharField(
        label=_("Public API key"),
        max_length=200,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def _role_choices() -> list[tuple[str, Any]]:
    from .labels import ROLES

    return list(ROLES.items())


class InviteForm(forms.Form):
    email = forms.EmailField(label=pgettext_lazy("address", "Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=_role_choices, initial="editor")


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=_role_choices)


class AcceptInvitationForm(forms.Form):
    """A new person's name and password; the password validators run in the service."""

    first_name = forms.CharField(label=_("First name"), max_length=150)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return cleaned


class EterminKeysForm(forms.Form):
    """New keys for a connected account whose old ones eTermin no longer accepts."""

    private_key = forms.CharField(
        label=_("Private API key"),
        max_length=1000,
        strip=True,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    public_key = forms.CharField(
        label=_("Public API key"),
        max_length=200,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class TrackingForm(forms.Form):
    track_opens = forms.BooleanField(label=_("Track opens"), required=False)
    track_clicks = forms.BooleanField(label=_("Track clicks"), required=False)


class RetentionForm(forms.Form):
    submission_retention_days = forms.IntegerField(
        label=_("Keep sign-ups for this many days after they ended"),
        min_value=0,
        max_value=MAX_RETENTION_DAYS,
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name of the token"), max_length=100, initial="default")


def _status_choices() -> list[tuple[str, Any]]:
    from .labels import EMAIL_STATUSES

    return [(code, label) for code, label in EMAIL_STATUSES.items()]


class ContactForm(forms.Form):
    """A contact's columns plus one input per workspace field, by the field's type."""

    email = forms.CharField(label=pgettext_lazy("address", "Email"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=200, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=200, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email_status = forms.ChoiceField(label=_("Email status"))
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )

    def __init__(self, *args, workspace_fields=(), current_status="", **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        choices = _status_choices()
        self.fields["email_status"].choices = choices
        # Only the contact confirms a double opt-in, so the list offers it only where it is
        # already the status; a posted "confirmed_doi" is refused by the service, with reason.
        self.fields["email_status"].widget.choices = [
            (code, label)
            for code, label in choices
            if code != "confirmed_doi" or current_status == "confirmed_doi"
        ]
        self.workspace_fields = list(workspace_fields)
        for field in self.workspace_fields:
            self.fields[f"field__{field.key}"] = _input_for(field)

    def field_values(self) -> dict:
        values: dict[str, Any] = {}
        for field in self.workspace_fields:
            value = self.cleaned_data.get(f"field__{field.key}")
            if field.type == "checkbox":
                values[field.key] = bool(value)
            else:
                values[field.key] = value if value not in ("", None) else None
        return values

    def custom_fields(self):  # type: ignore[no-untyped-def]
        return [self[f"field__{field.key}"] for field in self.workspace_fields]


def _input_for(field) -> forms.Field:  # type: ignore[no-untyped-def]
    label = field.label
    if field.type == "checkbox":
        return forms.BooleanField(label=label, required=False)
    if field.type == "number":
        return forms.CharField(
            label=label, required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"})
        )
    if field.type == "date":
        return forms.CharField(
            label=label, required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
    if field.type == "datetime":
        return forms.CharField(
            label=label,
            required=False,
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
            help_text=_("In your time zone."),
        )
    if field.type == "select":
        return forms.ChoiceField(
            label=label,
            required=False,
            choices=[("", "–"), *((o, o) for o in (field.options or []))],
        )
    return forms.CharField(label=label, required=False, widget=forms.TextInput())


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}))


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "à": "a"})


def key_from_label(label: str) -> str:
    """``Terminbeginn (Praxis)`` → ``terminbeginn_praxis``.

    ``app.js`` makes the same key while the label is typed.
    """
    text = unicodedata.normalize("NFKD", label.strip().lower().translate(_UMLAUTS))
    text = text.encode("ascii", "ignore").decode("ascii")
    key = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if key and not key[0].isalpha():
        key = f"f_{key}"
    return key[:64].rstrip("_")


class FieldForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=200)
    key = forms.CharField(
        label=_("Key"),
        max_length=64,
        required=False,
        help_text=_(
            "Made from the label; change it if you like. Lower-case letters, digits and _, "
            "used in emails as {{ contact.fields.key }}."
        ),
    )
    type = forms.ChoiceField(label=_("Type"))
    options = forms.CharField(
        label=_("Options"),
        required=False,
        help_text=_("Only for selection fields: the choices, separated by commas."),
    )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from .labels import FIELD_TYPES

        super().__init__(*args, **kwargs)
        self.fields["type"].choices = list(FIELD_TYPES.items())
        self.fields["label"].widget.attrs["data-key-source"] = "true"
        self.fields["key"].widget.attrs["data-key-target"] = "true"

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned = super().clean() or {}
        if not (cleaned.get("key") or "").strip() and cleaned.get("label"):
            cleaned["key"] = key_from_label(cleaned["label"])
        return cleaned


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))


class EmailTemplateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"))
    subject = forms.CharField(label=_("Subject"), max_length=500)
    body_html = forms.CharField(
        label=_("HTML body"),
        max_length=500_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 16}),
    )
    body_text = forms.CharField(
        label=_("Text body"),
        max_length=500_000,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Leave empty to generate it from the HTML body."),
    )
    attach_ics = forms.BooleanField(
        label=_("Attach the appointment as a calendar file (.ics)"), required=False
    )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from .labels import EMAIL_KINDS

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = list(EMAIL_KINDS.items())
