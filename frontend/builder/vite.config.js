// Builds the campaign builder island into the Django app's static folder with stable names,
// so the page includes builder.js / builder.css and `pip install` needs no Node.
import { resolve } from "node:path";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const outDir = resolve(import.meta.dirname, "../../src/terminflow/web/static/builder");

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: {
    outDir,
    emptyOutDir: true,
    cssCodeSplit: false,
    sourcemap: false,
    target: "es2020",
    rollupOptions: {
      input: resolve(import.meta.dirname, "src/main.jsx"),
      output: {
        format: "es",
        entryFileNames: "builder.js",
        chunkFileNames: "builder-[name].js",
        assetFileNames: "builder.[ext]",
        inlineDynamicImports: true,
      },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.js"],
  },
});
