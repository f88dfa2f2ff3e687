// Copies uPlot (MIT) from its npm package into the Django static folder for the overview's
// charts: vendored with its licence, never a CDN.
import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";

const from = (name) => resolve(import.meta.dirname, "node_modules/uplot", name);
const targetDir = resolve(import.meta.dirname, "../../src/terminflow/web/static/web");
mkdirSync(targetDir, { recursive: true });
copyFileSync(from("dist/uPlot.iife.min.js"), resolve(targetDir, "uplot.min.js"));
copyFileSync(from("dist/uPlot.min.css"), resolve(targetDir, "uplot.min.css"));
copyFileSync(from("LICENSE"), resolve(targetDir, "uplot.LICENSE.txt"));
