import { describe, expect, it } from "vitest";
import { insertAt, isLinkPlaceholder, linkPlaceholders, placeholderGroups } from "./placeholders.js";

const t = (s) => s;

describe("the placeholder menu", () => {
  it("offers contact fields by key, quoting keys that are no names", () => {
    const groups = placeholderGroups(t, {
      fields: [
        { key: "geburtstag", label: "Geburtstag" },
        { key: "lieblings-farbe", label: "" },
      ],
    });
    const contact = groups[0].items.map((i) => i.value);
    expect(contact).toContain("{{ contact.fields.geburtstag }}");
    expect(contact).toContain('{{ contact.fields["lieblings-farbe"] }}');
    expect(groups.map((g) => g.label)).toEqual(["Contact", "Appointment", "Links", "Workspace"]);
  });

  it("offers the confirmation link only in double opt-in emails", () => {
    expect(linkPlaceholders(t, "marketing").map((l) => l.value)).toEqual([
      "{{ links.unsubscribe }}",
      "{{ links.webview }}",
    ]);
    expect(linkPlaceholders(t, "doi")[0].value).toBe("{{ links.confirm }}");
  });

  it("inserts at the caret or over the selection", () => {
    expect(insertAt("Hallo !", 6, 6, "{{ contact.first_name }}")).toEqual({
      text: "Hallo {{ contact.first_name }}!",
      caret: 30,
    });
    expect(insertAt("Hallo Name", 6, 10, "X")).toEqual({ text: "Hallo X", caret: 7 });
    expect(insertAt("", undefined, undefined, "X")).toEqual({ text: "X", caret: 1 });
  });

  it("tells link placeholders from others", () => {
    expect(isLinkPlaceholder("{{ links.confirm }}")).toBe(true);
    expect(isLinkPlaceholder("{{ contact.email }}")).toBe(false);
    expect(isLinkPlaceholder("https://example.ch")).toBe(false);
  });
});
