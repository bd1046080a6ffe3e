// Vite builds the app into dist/, which the gateway serves at `/`. In development (`npm run dev`)
// API and WebSocket calls are proxied to a Parley on PARLEY_URL (default http://127.0.0.1:8080).
/// <reference types="vitest/config" />
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** Writes NAME.br and NAME.gz beside every text file of the build worth compressing: the gateway
 * serves them by Accept-Encoding (gateway/src/web.rs), so nothing is compressed per request. */
function precompress(dir: string): Plugin {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((name) => {
      const path = join(d, name);
      return statSync(path).isDirectory() ? walk(path) : [path];
    });
  return {
    name: "parley-precompress",
    apply: "build",
    closeBundle() {
      for (const path of walk(dir)) {
        if (!/\.(js|mjs|css|html|svg|json|webmanifest|txt)$/.test(path)) continue;
        const body = readFileSync(path);
        if (body.length < 1024) continue;
        writeFileSync(`${path}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
        writeFileSync(`${path}.gz`, gzipSync(body, { level: 9 }));
      }
    },
  };
}

const target = process.env.PARLEY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), precompress("dist")],
  // No source maps in the build: they would be served to anyone (and the binary embeds dist/).
  build: { outDir: "dist", sourcemap: false, assetsDir: "assets" },
  server: {
    proxy: {
      "/api": target,
      "/ws": { target: target.replace(/^http/, "ws"), ws: true },
    },
  },
  test: { include: ["src/**/*.test.ts", "packages/*/src/**/*.test.ts"], environment: "node" },
});
