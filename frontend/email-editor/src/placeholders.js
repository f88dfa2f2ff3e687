// The placeholders the menu offers: what the server's template context has (DESIGN.md, "Email
// template context"). People pick them; they never type them.

export function placeholderGroups(t, { fields = [], kind = "marketing" } = {}) {
  const contact = [
    { label: t("First name"), value: "{{ contact.first_name }}" },
    { label: t("Last name"), value: "{{ contact.last_name }}" },
    { label: t("Email address"), value: "{{ contact.email }}" },
    { label: t("Phone"), value: "{{ contact.phone }}" },
    ...fields.map((field) => ({
      label: field.label || field.key,
      value: field.key.match(/^[A-Za-z_][A-Za-z0-9_]*$/)
        ? `{{ contact.fields.${field.key} }}`
        : `{{ contact.fields[${JSON.stringify(field.key)}] }}`,
    })),
  ];
  const appointment = [
    { label: t("Start (date and time)"), value: '{{ appointment.start|datetime("full") }}' },
    { label: t("Start (date)"), value: '{{ appointment.start|date("full") }}' },
    { label: t("Start (time)"), value: "{{ appointment.start|time }}" },
    { label: t("End (time)"), value: "{{ appointment.end|time }}" },
    { label: t("Calendar"), value: "{{ appointment.calendar_name }}" },
  ];
  return [
    { label: t("Contact"), items: contact },
    { label: t("Appointment"), items: appointment },
    { label: t("Links"), items: linkPlaceholders(t, kind) },
    { label: t("Workspace"), items: [{ label: t("Workspace name"), value: "{{ workspace.name }}" }] },
  ];
}

// Links an email can carry; the confirmation link only exists in double opt-in emails.
export function linkPlaceholders(t, kind) {
  const links = [
    { label: t("Unsubscribe link"), value: "{{ links.unsubscribe }}", text: t("Unsubscribe") },
    { label: t("Web view link"), value: "{{ links.webview }}", text: t("View in the browser") },
  ];
  if (kind === "doi") {
    links.unshift({
      label: t("Confirmation link"),
      value: "{{ links.confirm }}",
      text: t("Confirm my address"),
    });
  }
  return links;
}

export function isLinkPlaceholder(value) {
  return /^\{\{ links\.[a-z_]+ \}\}$/.test(value || "");
}

// The text with `token` put in place of the selection [start, end) of an input.
export function insertAt(text, start, end, token) {
  const before = text.slice(0, start ?? text.length);
  const after = text.slice(end ?? start ?? text.length);
  return { text: before + token + after, caret: before.length + token.length };
}
