from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.i18n import set_language

from .views import (
    account,
    campaigns,
    contacts,
    emails,
    fields,
    inbox,
    newsletters,
    segments,
    settings,
    signup_forms,
    team,
)

app_name = "web"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("mail/", include("terminflow.mail.urls")),
    path("login/", account.login_page, name="login"),
    path("logout/", account.logout_page, name="logout"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("workspace/", account.switch_workspace, name="switch_workspace"),
    path("preferences/", account.preferences, name="preferences"),
    path("", account.dashboard, name="dashboard"),
    path("invitations/<str:token>/", team.invitation_page, name="invitation"),
    # Settings → API info
    path("settings/", settings.index, name="settings"),
    path("settings/api/", settings.api_tokens, name="settings_api"),
    path("settings/api/etermin/", settings.etermin_tab, name="settings_etermin"),
    # Settings → Team
    path("settings/team/", team.team_page, name="settings_team"),
    path("settings/team/invite/", team.invite, name="team_invite"),
    path(
        "settings/team/invitations/<int:invitation_id>/resend/",
        team.resend,
        name="team_invitation_resend",
    ),
    path(
        "settings/team/invitations/<int:invitation_id>/revoke/",
        team.revoke,
        name="team_invitation_revoke",
    ),
    path(
        "settings/team/members/<int:membership_id>/role/",
        team.change_role,
        name="team_member_role",
    ),
    path(
        "settings/team/members/<int:membership_id>/remove/",
        team.remove,
        name="team_member_remove",
    ),
    path("settings/api/email/", settings.email_tab, name="settings_email"),
    path("settings/tracking/", settings.tracking_tab, name="settings_tracking"),
    path("settings/privacy/", settings.privacy_tab, name="settings_privacy"),
    path(
        "settings/api/etermin/accounts/new/",
        settings.etermin_add_account,
        name="etermin_add_account",
    ),
    path(
        "settings/api/etermin/accounts/<int:account_id>/rotate/",
        settings.etermin_rotate,
        name="etermin_rotate",
    ),
    path(
        "settings/api/etermin/accounts/<int:account_id>/delete/",
        settings.etermin_delete,
        name="etermin_delete",
    ),
    path(
        "settings/api/etermin/accounts/<int:account_id>/sync/",
        settings.etermin_sync,
        name="etermin_sync",
    ),
    path(
        "settings/api/etermin/accounts/<int:account_id>/keys/",
        settings.etermin_keys,
        name="etermin_keys",
    ),
    # Contacts
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/export.csv", contacts.contact_export, name="contact_export"),
    path("contacts/import/", contacts.import_upload, name="contact_import"),
    path("contacts/import/<int:import_id>/", contacts.import_detail, name="contact_import_detail"),
    path("contacts/<int:contact_id>/", contacts.contact_detail, name="contact_detail"),
    path("contacts/<int:contact_id>/edit/", contacts.contact_edit, name="contact_edit"),
    path("contacts/<int:contact_id>/delete/", contacts.contact_delete, name="contact_delete"),
    path(
        "contacts/<int:contact_id>/export.json",
        contacts.contact_data_export,
        name="contact_data_export",
    ),
    path("contacts/<int:contact_id>/erase/", contacts.contact_erase, name="contact_erase"),
    path("contacts/<int:contact_id>/notes/", contacts.contact_add_note, name="contact_add_note"),
    path("contacts/<int:contact_id>/tags/", contacts.contact_tags, name="contact_tags"),
    # Fields and tags
    path("fields/", fields.field_list, name="fields"),
    # Segments
    path("segments/", segments.segment_list, name="segments"),
    path("segments/new/", segments.segment_edit, name="segment_create"),
    path("segments/editor/", segments.segment_editor, name="segment_editor"),
    path("segments/<int:segment_id>/", segments.segment_edit, name="segment_edit"),
    path("segments/<int:segment_id>/count/", segments.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/delete/", segments.segment_delete, name="segment_delete"),
    # Newsletters
    path("newsletters/", newsletters.newsletter_list, name="newsletters"),
    path("newsletters/new/", newsletters.newsletter_create, name="newsletter_create"),
    path("newsletters/audience/", newsletters.newsletter_audience, name="newsletter_audience"),
    path("newsletters/test/", newsletters.newsletter_test, name="newsletter_test"),
    path(
        "newsletters/<int:newsletter_id>/", newsletters.newsletter_detail, name="newsletter_detail"
    ),
    path(
        "newsletters/<int:newsletter_id>/progress/",
        newsletters.newsletter_progress,
        name="newsletter_progress",
    ),
    path(
        "newsletters/<int:newsletter_id>/cancel/",
        newsletters.newsletter_cancel,
        name="newsletter_cancel",
    ),
    # Emails
    path("emails/", emails.email_list, name="emails"),
    path("emails/new/", emails.email_edit, name="email_create"),
    path("emails/new/visual/", emails.email_create_visual, name="email_create_visual"),
    path("emails/<int:email_id>/", emails.email_edit, name="email_edit"),
    path("emails/preview/", emails.email_preview, name="email_preview"),
    path("emails/starters/<str:key>/", emails.email_from_starter, name="email_from_starter"),
    path("emails/<int:email_id>/archive/", emails.email_archive, name="email_archive"),
    path("emails/<int:email_id>/unarchive/", emails.email_unarchive, name="email_unarchive"),
    path("emails/<int:email_id>/delete/", emails.email_delete, name="email_delete"),
    # Sign-up forms
    path("forms/", signup_forms.form_list, name="forms"),
    path("forms/new/", signup_forms.form_edit, name="form_create"),
    path("forms/<int:form_id>/", signup_forms.form_edit, name="form_edit"),
    path("forms/<int:form_id>/delete/", signup_forms.form_delete, name="form_delete"),
    # Campaigns
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path(
        "campaigns/starters/<str:key>/",
        campaigns.campaign_from_starter,
        name="campaign_from_starter",
    ),
    path("campaigns/<int:campaign_id>/", campaigns.builder, name="campaign_builder"),
    path(
        "campaigns/<int:campaign_id>/archive/", campaigns.campaign_archive, name="campaign_archive"
    ),
    path(
        "campaigns/<int:campaign_id>/unarchive/",
        campaigns.campaign_unarchive,
        name="campaign_unarchive",
    ),
    path("campaigns/<int:campaign_id>/delete/", campaigns.campaign_delete, name="campaign_delete"),
    path(
        "campaigns/<int:campaign_id>/contacts/",
        campaigns.campaign_contacts,
        name="campaign_contacts",
    ),
    path(
        "campaigns/<int:campaign_id>/contacts/<int:contact_id>/",
        campaigns.campaign_contact_history,
        name="campaign_contact_history",
    ),
    path(
        "campaigns/<int:campaign_id>/contacts/<int:contact_id>/reset/",
        campaigns.campaign_contact_reset,
        name="campaign_contact_reset",
    ),
    path(
        "campaigns/<int:campaign_id>/reset-all/",
        campaigns.campaign_reset_all,
        name="campaign_reset_all",
    ),
    # Inbox and outbox
    path("inbox/", inbox.inbox_list, name="inbox"),
    path("inbox/<int:push_id>/retry/", inbox.inbox_retry, name="inbox_retry"),
    path("inbox/retry-failed/", inbox.inbox_retry_all, name="inbox_retry_all"),
    path("outbox/", inbox.outbox_list, name="outbox"),
    path("outbox/<int:email_id>/", inbox.outbox_email, name="outbox_email"),
]
