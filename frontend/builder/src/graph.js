// Conversions between the API's campaign graph and React Flow's nodes and edges.

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

export function toFlow(campaign, typesByKey) {
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
  const edges = (campaign.edges || []).map((edge) => toFlowEdge(edge.source, edge.target, edge.branch));
  return { nodes, edges };
}

export function toFlowEdge(source, target, branch) {
  const b = branch || "next";
  return {
    id: `${source}:${b}:${target}`,
    source: String(source),
    target: String(target),
    sourceHandle: b === "next" ? null : b,
    label: b === "next" ? undefined : b,
    data: { branch: b },
  };
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
