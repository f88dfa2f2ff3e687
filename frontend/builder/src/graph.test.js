import { describe, expect, it } from "vitest";
import { branchOf, emailElements, emailResults, newElementId, problemsByElement, statsByElement, toFlow, toPayload } from "./graph.js";
import { cleanConfig, coerce, describeFields, initialConfig } from "./schemaForm.js";

describe("graph", () => {
  it("round-trips a campaign through React Flow and back", () => {
    const campaign = {
      elements: [
        { id: "etermin-1", type: "etermin.appointment", config: { event: "created" }, position: { x: 10, y: 20 } },
        { id: "condition-2", type: "condition.tag", config: { tag: "vip" }, position: { x: 10, y: 200 } },
        { id: "contact-3", type: "contact.tag", config: { add: ["a"] }, position: { x: 10, y: 400 } },
      ],
      edges: [
        { source: "etermin-1", target: "condition-2", branch: "next" },
        { source: "condition-2", target: "contact-3", branch: "yes" },
      ],
    };
    const types = { "etermin.appointment": { kind: "trigger" }, "condition.tag": { kind: "condition" }, "contact.tag": { kind: "action" } };
    const { nodes, edges } = toFlow(campaign, types);
    expect(nodes.map((n) => n.data.kind)).toEqual(["trigger", "condition", "action"]);
    expect(edges[1].sourceHandle).toBe("yes");
    expect(toPayload("C", nodes, edges, "active")).toEqual({ name: "C", status: "active", ...campaign });
  });

  it("names branches after condition handles", () => {
    expect(branchOf("yes")).toBe("yes");
    expect(branchOf("no")).toBe("no");
    expect(branchOf(null)).toBe("next");
  });

  it("chooses element ids that are not taken", () => {
    expect(newElementId("wait.duration", new Set(["wait-1", "wait-2"]))).toBe("wait-3");
    expect(newElementId("etermin.appointment", new Set(["wait-1", "etermin-2"]))).toBe("etermin-3");
  });

  it("splits server problems by element", () => {
    const { byElement, general } = problemsByElement([
      { element: "wait-2", message: "minutes must be positive" },
      { element: null, message: "no trigger" },
    ]);
    expect(byElement).toEqual({ "wait-2": ["minutes must be positive"] });
    expect(general).toEqual(["no trigger"]);
  });

  it("reads stats as a list or as a map", () => {
    expect(statsByElement([{ element: "a", entered: 2 }])).toEqual({ a: { element: "a", entered: 2 } });
    expect(statsByElement({ elements: { a: { entered: 3 } } })).toEqual({ a: { entered: 3 } });
  });
});

describe("schema form", () => {
  const schema = {
    properties: {
      minutes: { type: "integer", title: "Minutes", default: 60 },
      field: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Field" },
      if_past: { enum: ["continue", "stop"], type: "string", default: "continue" },
      add: { type: "array", items: { type: "string" }, default: [] },
      flag: { type: "boolean", default: false },
      calendar: { anyOf: [{ const: "all", type: "string" }, { type: "integer" }], default: "all" },
    },
    required: ["minutes"],
  };

  it("picks an input for each property", () => {
    const fields = describeFields(schema);
    expect(fields.map((f) => [f.name, f.input])).toEqual([
      ["minutes", "number"],
      ["field", "fields"],
      ["if_past", "select"],
      ["add", "list"],
      ["flag", "checkbox"],
      ["calendar", "select"],
    ]);
  });

  it("starts from the defaults and coerces typed input", () => {
    expect(initialConfig(schema)).toEqual({ minutes: 60, field: null, if_past: "continue", add: [], flag: false, calendar: "all" });
    const [minutes, field, , add] = describeFields(schema);
    expect(coerce(minutes, "15")).toBe(15);
    expect(coerce(field, "")).toBe(null);
    expect(coerce(add, "a, b,,c")).toEqual(["a", "b", "c"]);
    expect(cleanConfig({ a: null, b: 1 })).toEqual({ b: 1 });
  });
});

describe("email results", () => {
  it("reads the email figures of an email element's row, with rates of the delivered", () => {
    const row = { id: "mail", entered: 5, sent: 4, delivered: 3, bounced: 1, opened: 2, clicked: 1, unsubscribed: 0 };
    expect(emailResults(row)).toEqual({
      sent: 4, delivered: 3, bounced: 1, opened: 2, clicked: 1, unsubscribed: 0,
      openRate: 67, clickRate: 33, bounceRate: 25, unsubscribeRate: 0,
    });
  });

  it("has no results for rows without email figures, and no rates when nothing arrived", () => {
    expect(emailResults({ id: "wait", entered: 3 })).toBeNull();
    expect(emailResults(null)).toBeNull();
    const none = emailResults({ sent: 0, delivered: 0, bounced: 0, opened: 0, clicked: 0, unsubscribed: 0 });
    expect([none.openRate, none.clickRate, none.bounceRate]).toEqual([null, null, null]);
  });

  it("offers the graph's email elements by name for a condition", () => {
    const nodes = [
      { id: "start", data: { type: "contact.tag_added" } },
      { id: "mail", data: { type: "email.send" } },
      { id: "ask", data: { type: "email.doi" } },
      { id: "opened", data: { type: "condition.email_opened" } },
    ];
    expect(emailElements(nodes, (n) => `Name of ${n.id}`)).toEqual([
      { id: "mail", name: "Name of mail" },
      { id: "ask", name: "Name of ask" },
    ]);
  });

  it("turns an element_id field into a choice of elements", () => {
    const schema = { properties: { element_id: { type: "string", title: "Element Id" } }, required: ["element_id"] };
    expect(describeFields(schema)[0]).toMatchObject({ name: "element_id", input: "elements", required: true });
  });
});
