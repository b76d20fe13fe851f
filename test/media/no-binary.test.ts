// Without a MediaMTX binary the node still runs, is ready, and says how to install MediaMTX.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, freePort, until } from "./peers.ts";

describe("node without MediaMTX", () => {
  it("starts, reports 'not-installed' with the install command, and logs it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-nobin-"));
    const port = await freePort();
    let logs = "";
    const node = spawn(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/slowdrip.mjs"), "run", "--data-dir", join(dir, "data")], {
      env: { ...process.env, SLOWDRIP_API_LISTEN: `127.0.0.1:${port}`, SLOWDRIP_API_ADMIN_LISTEN: "127.0.0.1:0", SLOWDRIP_API_HOOKS_LISTEN: "127.0.0.1:0", SLOWDRIP_MEDIAMTX_BINARY: join(dir, "missing/mediamtx") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    node.stdout!.setEncoding("utf8").on("data", (c: string) => (logs += c));
    try {
      const body = await until(async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        if (!r) return null;
        const j = (await r.json()) as { ready: boolean; components: { name: string; ready: boolean; detail: string }[] };
        return j.components.find((c) => c.name === "mediamtx" && /not-installed/.test(c.detail)) ? j : null;
      }, 20_000, "readyz with mediamtx not-installed");
      expect(body.ready).toBe(true);
      expect(body.components.find((c) => c.name === "mediamtx")?.detail).toMatch(/npm run mediamtx:install/);
      await until(() => /MediaMTX is not installed: run `npm run mediamtx:install`/.test(logs), 5000, "install hint logged");
    } finally {
      const exited = new Promise((r) => node.once("exit", r));
      node.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
