import { describe, expect, it } from "vitest";
import { arrange, connect, failuresOf, joinOffset, separate, splitOffset, toFlowEdge } from "./graph.js";
import { elementName, offsetText, summary } from "./ElementNode.jsx";
import { emailsFor, fieldsFor, missingChoice, withAccount } from "./SettingsDialog.jsx";
import { humanize } from "./Builder.jsx";
import { setLanguage } from "./i18n.js";

const node = (id, type, config, x, y, height) => ({
  id, type: "element", position: { x, y }, measured: height ? { width: 220, height } : undefined,
  data: { type, kind: "action", config, errors: [], warnings: [], stats: null },
});

const lookups = {
  types: { "email.send": { label: "Send email", marketing: true }, "wait.until_field": { label: "Wait until a date" } },
  emails: { 7: "Erinnerung" }, fields: { termin: "Terminbeginn" }, calendars: {}, campaigns: {},
  emailList: [{ id: 7, name: "Erinnerung", kind: "marketing" }, { id: 8, name: "Bitte bestätigen", kind: "doi" }],
  fieldList: [{ key: "termin", label: "Terminbeginn", type: "datetime" }, { key: "ort", label: "Ort", type: "text" }, { key: "geb", label: "Geburtstag", type: "date" }],
  accountList: [{ id: 3, name: "Praxis" }],
};

describe("connections", () => {
  it("lets one output lead to several elements and keeps the first connection", () => {
    let edges = connect([], "etermin-1", "email-2", "next");
    edges = connect(edges, "etermin-1", "wait-3", "next");
    expect(edges.map((e) => e.target)).toEqual(["email-2", "wait-3"]);
    expect(edges.every((e) => e.markerEnd && e.markerEnd.type === "arrowclosed")).toBe(true);
  });

  it("drops only the very same connection drawn twice, and never a loop to itself", () => {
    const once = connect([], "a", "b", "yes");
    expect(connect(once, "a", "b", "yes")).toBe(once);
    expect(connect(once, "a", "b", "no")).toHaveLength(2);
    expect(connect(once, "a", "a", "next")).toBe(once);
  });

  it("draws an arrowhead on every loaded edge", () => {
    expect(toFlowEdge("a", "b", "next").markerEnd.type).toBe("arrowclosed");
  });
});

describe("wait offsets in words", () => {
  it("splits minutes into amount, unit and direction and joins them back", () => {
    expect(splitOffset(-1440)).toEqual({ amount: 1, unit: "days", direction: "before" });
    expect(splitOffset(120)).toEqual({ amount: 2, unit: "hours", direction: "after" });
    expect(splitOffset(-90)).toEqual({ amount: 90, unit: "minutes", direction: "before" });
    expect(splitOffset(0).direction).toBe("at");
    expect(joinOffset({ amount: 1, unit: "days", direction: "before" })).toBe(-1440);
    expect(joinOffset({ amount: 3, unit: "hours", direction: "after" })).toBe(180);
    expect(joinOffset({ amount: 5, unit: "days", direction: "at" })).toBe(0);
  });

  it("reads as a person says it, in German and English", () => {
    setLanguage("de");
    expect(offsetText(-1440)).toBe("1 Tag vorher");
    expect(offsetText(2880)).toBe("2 Tage nachher");
    expect(offsetText(0)).toBe("zum Zeitpunkt");
    setLanguage("en");
    expect(offsetText(-60)).toBe("1 hour before");
    setLanguage("de");
  });
});

describe("choices offered", () => {
  it("offers only date and datetime fields to wait until a date", () => {
    expect(fieldsFor("wait.until_field", lookups.fieldList).map((f) => f.key)).toEqual(["termin", "geb"]);
    expect(fieldsFor("condition.field", lookups.fieldList)).toHaveLength(3);
  });

  it("offers double opt-in emails to the double opt-in element and marketing emails to the send element", () => {
    expect(emailsFor({ doi: true }, lookups.emailList).map((e) => e.id)).toEqual([8]);
    expect(emailsFor({ marketing: true }, lookups.emailList).map((e) => e.id)).toEqual([7]);
  });

  it("stores the only eTermin account and requires a choice among several", () => {
    expect(withAccount("etermin.appointment", { event: "created" }, lookups)).toEqual({ event: "created", account_id: 3 });
    const two = { ...lookups, accountList: [{ id: 3 }, { id: 4 }] };
    expect(withAccount("etermin.appointment", { event: "created" }, two)).toEqual({ event: "created" });
    expect(missingChoice("etermin.appointment", {}, two)).toBe("Wählen Sie das eTermin-Konto.");
    expect(missingChoice("etermin.appointment", { account_id: 4 }, two)).toBeNull();
    expect(missingChoice("wait.until_field", {}, lookups)).toBe("Wählen Sie das Datumsfeld.");
  });
});

describe("names and failures", () => {
  it("names elements by label and setting instead of id", () => {
    setLanguage("de");
    const nodes = [node("email-2", "email.send", { email_id: 7 }, 0, 0), node("wait-12", "wait.until_field", { field: "termin", offset_minutes: -1440 }, 0, 0)];
    expect(elementName(nodes[0], lookups)).toBe("E-Mail senden «Erinnerung»");
    expect(humanize("edge email-2 → wait-12: element 'wait-12' does not exist", nodes, lookups))
      .toBe("edge E-Mail senden «Erinnerung» → Warten bis Datum «Terminbeginn · 1 Tag vorher»: element Warten bis Datum «Terminbeginn · 1 Tag vorher» does not exist");
  });

  it("reads failures with reasons from a stats row in list or map form", () => {
    expect(failuresOf({ failures: [{ reason: "a", code: "x", count: 1 }, { reason: "b", count: 3 }] })).toEqual([{ reason: "a", count: 1, code: "x" }, { reason: "b", count: 3, code: undefined }]);
    expect(failuresOf({ failure_reasons: { "Vorlage fehlerhaft": 2 } })).toEqual([{ reason: "Vorlage fehlerhaft", count: 2 }]);
    expect(failuresOf({ failed: 0 })).toEqual([]);
  });
});

describe("layout", () => {
  it("pushes a grown element's neighbour below it", () => {
    const nodes = [node("a", "email.send", {}, 0, 0, 200), node("b", "email.send", {}, 10, 120, 100)];
    const after = separate(nodes);
    expect(after[1].position).toEqual({ x: 10, y: 260 });
    expect(after[0]).toBe(nodes[0]);
  });

  it("leaves elements that do not overlap untouched", () => {
    const nodes = [node("a", "email.send", {}, 0, 0, 100), node("b", "email.send", {}, 400, 0, 100)];
    expect(separate(nodes)).toBe(nodes);
  });

  it("arranges elements in rows by their distance from the trigger, without overlaps", () => {
    const nodes = [node("t", "x", {}, 500, 500, 100), node("a", "x", {}, 0, 0, 150), node("b", "x", {}, 0, 0, 100), node("c", "x", {}, 0, 0, 100)];
    const edges = [{ source: "t", target: "a" }, { source: "t", target: "b" }, { source: "a", target: "c" }, { source: "b", target: "c" }];
    const placed = Object.fromEntries(arrange(nodes, edges).map((n) => [n.id, n.position]));
    expect(placed.t.y).toBe(40);
    expect(placed.a.y).toBe(200);
    expect(placed.b.y).toBe(200);
    expect(placed.c.y).toBe(410);
    expect(Math.abs(placed.a.x - placed.b.x)).toBe(270);
  });
});

describe("conditions on opens and clicks", () => {
  it("name the chosen email element and ask for one before applying", () => {
    setLanguage("en");
    const withElements = { ...lookups, emailElements: [{ id: "mail", name: "Send email «Erinnerung»" }] };
    expect(summary("condition.email_clicked", { element_id: "mail" }, withElements)).toBe("Send email «Erinnerung»");
    expect(summary("condition.email_opened", { element_id: "gone" }, withElements)).toBe("gone");
    expect(missingChoice("condition.email_opened", {}, withElements)).toBe("Choose the email element.");
    expect(missingChoice("condition.email_opened", { element_id: "mail" }, withElements)).toBeNull();
    setLanguage("de");
    expect(missingChoice("condition.email_clicked", {}, withElements)).toBe("Wählen Sie das E-Mail-Element.");
  });
});
