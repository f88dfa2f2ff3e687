// Builds the email editor island into the Django app's static folder with stable names, so the
// page includes email-editor.js / email-editor.css and `pip install` needs no Node.
import { resolve } from "node:path";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const outDir = resolve(import.meta.dirname, "../../src/terminflow/web/static/email-editor");

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
        entryFileNames: "email-editor.js",
        chunkFileNames: "email-editor-[name].js",
        assetFileNames: "email-editor.[ext]",
        inlineDynamicImports: true,
      },
    },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.js"],
  },
});
