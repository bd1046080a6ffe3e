// Browser end-to-end tests: Debian's Chromium driven by playwright-core against a real Parley
// (the debug or release binary, started here with its embedded PostgreSQL in a scratch
// directory) serving the built web client. Screenshots go to web/test-results/.
//
// Usage: node e2e/run.mjs [path/to/parley]   (from web/, after `npm run build`; E2E_ONLY=<regex>
// runs only the matching scenarios)

import { execFileSync, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { scenarios } from "./scenarios.mjs";

const root = resolve(import.meta.dirname, "..", "..");
const binary = resolve(process.argv[2] ?? join(root, "target/debug/parley"));
const port = 18500 + Math.floor(Math.random() * 400);
const base = `http://127.0.0.1:${port}`;
const out = join(root, "web/test-results");
mkdirSync(out, { recursive: true });
const data = mkdtempSync(join(tmpdir(), "parley-e2e-"));
// As root, the embedded PostgreSQL runs as `postgres`, which must be able to enter the directory.
chmodSync(data, 0o755);

/** Starts Parley on `port` with the shared data directory (a restart keeps everything). */
async function startParley() {
  const child = spawn(binary, ["serve", "--data-dir", data, "--listen", `127.0.0.1:${port}`], {
    env: {
      ...process.env,
      PARLEY_LOG__LEVEL: "warn",
      PARLEY_SERVER__SHARDS: "2",
      PARLEY_PRESENCE__OFFLINE_GRACE: "1s",
      PARLEY_LIMITS__REGISTER: "1000/1h",
      PARLEY_LIMITS__LOGIN: "1000/15m",
      PARLEY_LIMITS__WS_CONNECT: "1000/1m",
      PARLEY_LIMITS__SEND: "10000/1m",
      // Web Push to a local push service (the Web Push scenario); the VAPID key is generated
      // into the data dir by the first start.
      PARLEY_NOTIFICATIONS__VAPID_SUBJECT: "mailto:e2e@parley.test",
      PARLEY_NOTIFICATIONS__WEBPUSH_HOSTS: '["127.0.0.1"]',
      PARLEY_NOTIFICATIONS__WEBPUSH_ALLOW_HTTP: "true",
      PARLEY_NOTIFICATIONS__PUSH_INTERVAL: "100ms",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 120; i++) {
    try {
      const r = await fetch(`${base}/health/ready`);
      if (r.ok) return child;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill("SIGKILL");
  throw new Error("Parley did not become ready");
}

async function stopParley(child, signal = "SIGTERM") {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  await exited;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let parley = await startParley();
const server = {
  base,
  restart: async () => {
    await stopParley(parley, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1500));
    parley = await startParley();
  },
  /** kill -9: the server is gone until `start`. */
  stop: async () => {
    await stopParley(parley, "SIGKILL");
  },
  start: async () => {
    parley = await startParley();
  },
  /** `parley admin <args>` on the served data dir (as an operator would); its stdout. */
  admin: (...args) => execFileSync(binary, ["--data-dir", data, "admin", ...args], { encoding: "utf8" }),
};
let failed = 0;
let ran = 0;
try {
  // E2E_ONLY=<regex> runs only the scenarios whose names match (while working on one).
  const only = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
  for (const [name, run] of Object.entries(scenarios)) {
    if (only && !only.test(name)) continue;
    ran += 1;
    const started = Date.now();
    try {
      await run({ browser, server, shot: (page, label) => page.screenshot({ path: join(out, `${label}.png`), animations: "disabled" }) });
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}: ${error?.stack ?? error}`);
      // Every page still open, as it looked when the scenario failed.
      let n = 0;
      for (const context of browser.contexts()) {
        for (const page of context.pages()) {
          await page.screenshot({ path: join(out, `FAIL-${ran}-${n++}.png`) }).catch(() => undefined);
        }
        await context.close().catch(() => undefined);
      }
    }
  }
} finally {
  await browser.close();
  await stopParley(parley);
  rmSync(data, { recursive: true, force: true });
}
console.log(`browser tests: ${ran - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
