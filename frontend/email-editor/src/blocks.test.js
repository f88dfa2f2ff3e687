import { describe, expect, it } from "vitest";
import {
  addBlock,
  changeBlock,
  countBlocks,
  moveBlock,
  newBlock,
  removeBlock,
  setColumnCount,
  withIds,
  withoutIds,
} from "./blocks.js";

const types = (blocks) => blocks.map((b) => b.type);

describe("block list editing", () => {
  it("adds, moves and removes blocks at the top level", () => {
    let blocks = [];
    blocks = addBlock(blocks, [], "heading");
    blocks = addBlock(blocks, [], "text");
    blocks = addBlock(blocks, [], "button");
    expect(types(blocks)).toEqual(["heading", "text", "button"]);

    blocks = moveBlock(blocks, [], 2, -1);
    expect(types(blocks)).toEqual(["heading", "button", "text"]);
    // moving past either end changes nothing
    expect(moveBlock(blocks, [], 0, -1)).toBe(blocks);
    expect(moveBlock(blocks, [], 2, 1)).toBe(blocks);

    blocks = removeBlock(blocks, [], 0);
    expect(types(blocks)).toEqual(["button", "text"]);
  });

  it("edits blocks inside a column without touching the others", () => {
    let blocks = addBlock([], [], "columns");
    blocks = addBlock(blocks, [0, 1], "text");
    blocks = addBlock(blocks, [0, 1], "image");
    blocks = changeBlock(blocks, [0, 1], 1, { alt: "Logo" });
    blocks = moveBlock(blocks, [0, 1], 1, -1);

    expect(types(blocks[0].columns[1])).toEqual(["image", "text"]);
    expect(blocks[0].columns[1][0].alt).toBe("Logo");
    expect(blocks[0].columns[0]).toEqual([]);
    expect(countBlocks(blocks)).toBe(3);
  });

  it("never puts columns into columns", () => {
    const blocks = addBlock([], [], "columns");
    expect(addBlock(blocks, [0, 0], "columns")).toBe(blocks);
  });

  it("keeps the blocks of a removed column in the last one left", () => {
    let block = newBlock("columns");
    block = setColumnCount(block, 3);
    block.columns[2].push(newBlock("spacer"));
    block = setColumnCount(block, 2);
    expect(block.columns.length).toBe(2);
    expect(types(block.columns[1])).toEqual(["spacer"]);
  });
});

describe("ids for React", () => {
  it("are added to every block and removed before saving", () => {
    const design = {
      version: 1,
      settings: { width: 640 },
      blocks: [
        { type: "columns", columns: [[{ type: "text", html: "<p>a</p>" }], []] },
        { type: "divider", color: "#e5e7eb" },
      ],
    };
    const edited = withIds(design);
    expect(edited.blocks[0]._id).toMatch(/^b\d+$/);
    expect(edited.blocks[0].columns[0][0]._id).toMatch(/^b\d+$/);
    expect(edited.settings.width).toBe(640);
    expect(edited.settings.font).toBe("sans");

    expect(withoutIds(edited)).toEqual({ ...design, settings: edited.settings });
  });
});
