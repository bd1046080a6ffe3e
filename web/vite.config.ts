// Vite builds the app into dist/, which the gateway serves at `/`. In development (`npm run dev`)
// API and WebSocket calls are proxied to a Parley on PARLEY_URL (default http://127.0.0.1:8080).
/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const target = process.env.PARLEY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: true, assetsDir: "assets" },
  server: {
    proxy: {
      "/api": target,
      "/ws": { target: target.replace(/^http/, "ws"), ws: true },
    },
  },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
