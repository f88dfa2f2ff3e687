// Copies htmx from its npm package into the Django static folder (vendored, never a CDN).
import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";

const source = resolve(import.meta.dirname, "node_modules/htmx.org/dist/htmx.min.js");
const targetDir = resolve(import.meta.dirname, "../../src/terminflow/web/static/web");
mkdirSync(targetDir, { recursive: true });
copyFileSync(source, resolve(targetDir, "htmx.min.js"));
