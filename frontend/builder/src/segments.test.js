import { describe, expect, it } from "vitest";
import { coerce, describeFields } from "./schemaForm.js";
import { summary } from "./ElementNode.jsx";

// The config schema the server gives condition.segment and segment.entered.
const schema = {
  type: "object",
  properties: { segment_id: { type: "integer", title: "Segment", minimum: 1 } },
  required: ["segment_id"],
};

describe("segment elements", () => {
  it("offer the workspace's segments as a list and keep the chosen id a number", () => {
    const [field] = describeFields(schema);
    expect(field.input).toBe("segments");
    expect(coerce(field, "42")).toBe(42);
  });

  it("name the chosen segment on the node, or its id when it is gone", () => {
    const lookups = { segments: { 42: "Stammkunden" } };
    expect(summary("condition.segment", { segment_id: 42 }, lookups)).toBe("Stammkunden");
    expect(summary("segment.entered", { segment_id: 7 }, lookups)).toBe("#7");
    expect(summary("segment.entered", {}, lookups)).toBe("");
  });
});
