// Conversions between the API's campaign graph and React Flow's nodes and edges, the layout that
// keeps elements apart, and the words that name an element to a person.

export const KIND_ORDER = ["trigger", "action", "wait", "condition"];

export function branchOf(sourceHandle) {
  return sourceHandle === "yes" || sourceHandle === "no" ? sourceHandle : "next";
}

export function newElementId(type, existingIds) {
  const stem = (type.split(".")[0] || "element").replace(/[^a-z0-9]/gi, "");
  let n = existingIds.size + 1;
  while (existingIds.has(`${stem}-${n}`)) n += 1;
  return `${stem}-${n}`;
}

export function toFlow(campaign, typesByKey, branchLabel) {
  const nodes = (campaign.elements || []).map((element, index) => {
    const type = typesByKey[element.type];
    const position = element.position && typeof element.position.x === "number"
      ? { x: element.position.x, y: element.position.y }
      : { x: 80 + (index % 4) * 260, y: 60 + Math.floor(index / 4) * 160 };
    return {
      id: String(element.id),
      type: "element",
      position,
      data: {
        type: element.type,
        kind: type ? type.kind : element.kind || "action",
        config: element.config || {},
        errors: [],
        warnings: [],
        stats: null,
      },
    };
  });
  const edges = (campaign.edges || []).map((edge) => toFlowEdge(edge.source, edge.target, edge.branch, branchLabel));
  return { nodes, edges };
}

// React Flow's "arrowclosed" marker: every connection shows which way the contact goes.
export const ARROW = { type: "arrowclosed", width: 18, height: 18, color: "#64748b" };

export function toFlowEdge(source, target, branch, branchLabel) {
  const b = branch || "next";
  return {
    id: `${source}:${b}:${target}`,
    source: String(source),
    target: String(target),
    sourceHandle: b === "next" ? null : b,
    label: b === "next" ? undefined : (branchLabel ? branchLabel(b) : b),
    markerEnd: ARROW,
    data: { branch: b },
  };
}

// One output may lead to several elements; only the very same connection drawn twice is dropped.
export function connect(edges, source, target, branch, branchLabel) {
  if (source === target) return edges;
  const edge = toFlowEdge(source, target, branch, branchLabel);
  if (edges.some((e) => e.id === edge.id)) return edges;
  return [...edges, edge];
}

export function toPayload(name, nodes, edges, status) {
  return {
    name,
    ...(status ? { status } : {}),
    elements: nodes.map((node) => ({
      id: node.id,
      type: node.data.type,
      config: node.data.config || {},
      position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
    })),
    edges: edges.map((edge) => ({
      source: edge.source,
      target: edge.target,
      branch: (edge.data && edge.data.branch) || branchOf(edge.sourceHandle),
    })),
  };
}

// The server lists problems as [{element, message}]; an element of null is about the whole graph.
export function problemsByElement(problems) {
  const byElement = {};
  const general = [];
  for (const problem of problems || []) {
    const message = typeof problem === "string" ? problem : problem.message || problem.detail || "";
    const element = typeof problem === "string" ? null : problem.element;
    if (element === null || element === undefined || element === "") {
      general.push(message);
    } else {
      (byElement[String(element)] = byElement[String(element)] || []).push(message);
    }
  }
  return { byElement, general };
}

// Stats come as a list [{element, entered, ...}] or a map {element: {...}}; both are accepted.
export function statsByElement(body) {
  const source = body && (body.elements || body.stats || body);
  const result = {};
  if (Array.isArray(source)) {
    for (const row of source) {
      const key = row.element ?? row.element_id ?? row.id ?? row.key;
      if (key !== undefined) result[String(key)] = row;
    }
  } else if (source && typeof source === "object") {
    for (const [key, row] of Object.entries(source)) {
      if (row && typeof row === "object") result[String(key)] = row;
    }
  }
  return result;
}

// The element types that send an email, and the conditions that ask about one of them.
export const EMAIL_TYPES = ["email.send", "email.doi"];
export const ENGAGEMENT_CONDITIONS = ["condition.email_opened", "condition.email_clicked"];

// A rate in whole percent, or null when there is nothing to divide by.
export function percent(part, whole) {
  const p = Number(part);
  const w = Number(whole);
  return w > 0 && Number.isFinite(p) ? Math.round((100 * p) / w) : null;
}

// What an email element's stats row says about its emails (unique contacts), with rates of the
// emails delivered; null for a row without email figures (every other element).
export function emailResults(row) {
  if (!row || row.sent === undefined || row.sent === null) return null;
  const n = (key) => Number(row[key]) || 0;
  const delivered = n("delivered");
  return {
    sent: n("sent"),
    delivered,
    bounced: n("bounced"),
    opened: n("opened"),
    clicked: n("clicked"),
    unsubscribed: n("unsubscribed"),
    openRate: percent(n("opened"), delivered),
    clickRate: percent(n("clicked"), delivered),
    bounceRate: percent(n("bounced"), n("sent")),
    unsubscribeRate: percent(n("unsubscribed"), delivered),
  };
}

// The email elements of the graph being edited, for a condition's choice of element: the id it
// stores and the name a person knows it by. ``nameOf`` turns a node into that name.
export function emailElements(nodes, nameOf) {
  return nodes
    .filter((node) => EMAIL_TYPES.includes(node.data.type))
    .map((node) => ({ id: node.id, name: nameOf(node) }));
}

// Per-element failures with their reasons: the stats row's "failures" list
// [{reason, code, count, latest_at}] (a map {reason: count} is read too).
export function failuresOf(row) {
  if (!row) return [];
  const source = row.failures ?? row.failure_reasons ?? row.failed_reasons;
  let list = [];
  if (Array.isArray(source)) {
    list = source.map((item) => (typeof item === "string"
      ? { reason: item, count: 1 }
      : { reason: item.reason ?? item.message ?? item.detail ?? "", count: Number(item.count ?? item.n ?? 1), code: item.code }));
  } else if (source && typeof source === "object") {
    list = Object.entries(source).map(([reason, count]) => ({ reason, count: Number(count) }));
  }
  const kept = list.filter((f) => f.reason || f.count);
  // The server lists the latest reasons first; a map has no order, so the most frequent lead.
  return Array.isArray(source) ? kept : kept.sort((a, b) => b.count - a.count);
}

// Offsets of "wait until a date" in the unit a person thinks in: 1440 → 1 day; -90 → 90 min before.
export const UNIT_MINUTES = { minutes: 1, hours: 60, days: 1440 };

export function splitOffset(offsetMinutes) {
  const m = Number(offsetMinutes) || 0;
  const direction = m < 0 ? "before" : m > 0 ? "after" : "at";
  const abs = Math.abs(m);
  if (abs === 0) return { amount: 1, unit: "days", direction };
  if (abs % 1440 === 0) return { amount: abs / 1440, unit: "days", direction };
  if (abs % 60 === 0) return { amount: abs / 60, unit: "hours", direction };
  return { amount: abs, unit: "minutes", direction };
}

export function joinOffset({ amount, unit, direction }) {
  if (direction === "at") return 0;
  const minutes = Math.round(Math.max(0, Number(amount) || 0) * (UNIT_MINUTES[unit] || 1));
  return direction === "before" ? -minutes : minutes;
}

export function splitDuration(minutes) {
  const { amount, unit } = splitOffset(Math.abs(Number(minutes) || 0) || 1440);
  return { amount, unit };
}

// Sizes React Flow measured, or what a node looks like before it is measured.
export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 96;
const GAP_X = 50;
const GAP_Y = 60;

function sizeOf(node) {
  const measured = node.measured || {};
  return {
    width: measured.width || node.width || NODE_WIDTH,
    height: measured.height || node.height || NODE_HEIGHT,
  };
}

function overlaps(a, b) {
  const sa = sizeOf(a);
  const sb = sizeOf(b);
  return a.position.x < b.position.x + sb.width + GAP_X / 2
    && b.position.x < a.position.x + sa.width + GAP_X / 2
    && a.position.y < b.position.y + sb.height + GAP_Y / 2
    && b.position.y < a.position.y + sa.height + GAP_Y / 2;
}

// Pushes elements down until none overlaps another (elements grow when counts or failures
// appear). Returns the same array when nothing moved, so React does not re-render for nothing.
export function separate(nodes) {
  const order = [...nodes].sort((a, b) => a.position.y - b.position.y || a.position.x - b.position.x);
  const placed = [];
  const moved = new Map();
  for (const node of order) {
    let current = node;
    for (let guard = 0; guard < 200; guard += 1) {
      const hit = placed.find((other) => overlaps(current, other));
      if (!hit) break;
      current = { ...current, position: { x: current.position.x, y: hit.position.y + sizeOf(hit).height + GAP_Y } };
    }
    if (current !== node) moved.set(node.id, current.position);
    placed.push(current);
  }
  if (!moved.size) return nodes;
  return nodes.map((n) => (moved.has(n.id) ? { ...n, position: moved.get(n.id) } : n));
}

// "Arrange": triggers in the top row, each element one row below the lowest element leading to
// it, rows centred on each other; within a row, the order of the parents keeps lines short.
export function arrange(nodes, edges) {
  const ids = nodes.map((n) => n.id);
  const incoming = new Map(ids.map((id) => [id, []]));
  const outgoing = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (incoming.has(e.target) && outgoing.has(e.source) && e.source !== e.target) {
      incoming.get(e.target).push(e.source);
      outgoing.get(e.source).push(e.target);
    }
  }
  const level = new Map();
  const roots = ids.filter((id) => incoming.get(id).length === 0);
  const queue = roots.map((id) => [id, 0]);
  for (const id of roots) level.set(id, 0);
  let steps = 0;
  // Longest path from a root, bounded so a cycle cannot loop forever.
  while (queue.length && steps < ids.length * ids.length + 10) {
    steps += 1;
    const [id, depth] = queue.shift();
    for (const next of outgoing.get(id)) {
      if ((level.get(next) ?? -1) < depth + 1 && depth + 1 < ids.length) {
        level.set(next, depth + 1);
        queue.push([next, depth + 1]);
      }
    }
  }
  for (const id of ids) if (!level.has(id)) level.set(id, 0);
  const rows = [];
  for (const node of nodes) {
    const l = level.get(node.id);
    (rows[l] = rows[l] || []).push(node);
  }
  const xOf = new Map();
  const positions = new Map();
  let y = 40;
  for (const row of rows.filter(Boolean)) {
    const parentX = (node) => {
      const xs = incoming.get(node.id).map((p) => xOf.get(p)).filter((x) => x !== undefined);
      return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : node.position.x;
    };
    row.sort((a, b) => parentX(a) - parentX(b) || a.position.x - b.position.x);
    const width = row.reduce((sum, n) => sum + sizeOf(n).width, 0) + GAP_X * (row.length - 1);
    let x = 400 - width / 2;
    let tallest = 0;
    for (const node of row) {
      positions.set(node.id, { x: Math.round(x), y });
      xOf.set(node.id, x + sizeOf(node).width / 2);
      x += sizeOf(node).width + GAP_X;
      tallest = Math.max(tallest, sizeOf(node).height);
    }
    y += tallest + GAP_Y;
  }
  return nodes.map((n) => ({ ...n, position: positions.get(n.id) || n.position }));
}
