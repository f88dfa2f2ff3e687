// The design document the editor edits (format: docs/decisions/0006-visual-email-editor.md).
// Pure functions on plain objects, so they are tested without a browser. Blocks carry a
// client-side `_id` for React; it is removed before the design goes to the server.

export const BLOCK_TYPES = [
  "text",
  "heading",
  "image",
  "button",
  "divider",
  "spacer",
  "columns",
  "appointment",
];

export const DEFAULT_SETTINGS = {
  width: 600,
  background: "#f4f4f5",
  content_background: "#ffffff",
  text_color: "#1f2937",
  link_color: "#0f766e",
  font: "sans",
};

let counter = 0;
export function newId() {
  counter += 1;
  return `b${counter}`;
}

export function newBlock(type) {
  const fields = {
    text: { html: "<p></p>" },
    heading: { text: "", level: 1, align: "left" },
    image: { src: "", alt: "", width: null, href: "", align: "center" },
    button: { text: "", href: "", align: "center", color: "#0f766e", text_color: "#ffffff" },
    divider: { color: "#e5e7eb" },
    spacer: { height: 24 },
    columns: { columns: [[], []] },
    appointment: { show_calendar: true, show_end: false, calendar_hint: true },
  }[type];
  if (!fields) throw new Error(`unknown block type ${type}`);
  return { _id: newId(), type, ...structuredClone(fields) };
}

// A design from the server (or a starter) with ids on every block, nested ones included.
export function withIds(design) {
  const tag = (block) => {
    const copy = { ...block, _id: newId() };
    if (block.type === "columns") copy.columns = block.columns.map((column) => column.map(tag));
    return copy;
  };
  return {
    version: 1,
    settings: { ...DEFAULT_SETTINGS, ...(design && design.settings) },
    blocks: ((design && design.blocks) || []).map(tag),
  };
}

// The design as the server takes it: ids removed.
export function withoutIds(design) {
  const strip = (block) => {
    const { _id, ...rest } = block;
    if (rest.type === "columns") rest.columns = rest.columns.map((column) => column.map(strip));
    return rest;
  };
  return { version: 1, settings: { ...design.settings }, blocks: design.blocks.map(strip) };
}

export function starterDesign(t) {
  return withIds({
    version: 1,
    settings: DEFAULT_SETTINGS,
    blocks: [
      { type: "heading", text: t("Your appointment"), level: 1, align: "left" },
      { type: "text", html: `<p>${t("Hello")} {{ contact.first_name }},</p>` },
      { type: "appointment", show_calendar: true, show_end: false, calendar_hint: true },
    ],
  });
}

// The list of blocks at `path` ([] = top level, [blockIndex, columnIndex] = inside columns).
function listAt(blocks, path) {
  if (path.length === 0) return blocks;
  const [index, column] = path;
  return blocks[index].columns[column];
}

// A copy of `blocks` with the list at `path` replaced by `change(list)`.
function updateList(blocks, path, change) {
  if (path.length === 0) return change(blocks);
  const [index, column] = path;
  return blocks.map((block, i) =>
    i !== index
      ? block
      : {
          ...block,
          columns: block.columns.map((list, c) => (c === column ? change(list) : list)),
        },
  );
}

export function addBlock(blocks, path, type, at = null) {
  if (path.length > 0 && type === "columns") return blocks;
  const block = newBlock(type);
  return updateList(blocks, path, (list) => {
    const copy = [...list];
    copy.splice(at === null ? copy.length : at, 0, block);
    return copy;
  });
}

export function moveBlock(blocks, path, index, delta) {
  const target = index + delta;
  return updateList(blocks, path, (list) => {
    if (target < 0 || target >= list.length) return list;
    const copy = [...list];
    [copy[index], copy[target]] = [copy[target], copy[index]];
    return copy;
  });
}

export function removeBlock(blocks, path, index) {
  return updateList(blocks, path, (list) => list.filter((_, i) => i !== index));
}

export function changeBlock(blocks, path, index, changes) {
  return updateList(blocks, path, (list) =>
    list.map((block, i) => (i === index ? { ...block, ...changes } : block)),
  );
}

// Columns keep their blocks when the count changes; blocks of a removed column move left.
export function setColumnCount(block, count) {
  const columns = block.columns.map((column) => [...column]);
  while (columns.length < count) columns.push([]);
  while (columns.length > count) {
    const last = columns.pop();
    columns[columns.length - 1].push(...last);
  }
  return { ...block, columns };
}

export function countBlocks(blocks) {
  return blocks.reduce(
    (sum, block) =>
      sum + 1 + (block.type === "columns" ? block.columns.reduce((n, c) => n + c.length, 0) : 0),
    0,
  );
}

export { listAt };
