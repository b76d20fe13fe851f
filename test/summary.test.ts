// npm test's closing line: tests that a failing beforeAll kept from running count as failed, deliberate skips as skipped.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { NODE_BIN, ROOT, tempDir } from "./helpers/node.ts";

it("counts the tests a failing beforeAll skipped as failed in the closing line", () => {
  const r = spawnSync(NODE_BIN, [join(ROOT, "scripts/test.mjs"), "--config", join(ROOT, "test/fixtures/summary/vitest.config.ts")], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, SLOWDRIP_TEST_NO_BUILD: "1", SLOWDRIP_TEST_SUMMARY: join(tempDir(), "summary.json") },
    timeout: 120_000,
  });
  const lines = r.stdout.trim().split("\n");
  expect(lines.at(-1)).toBe("2 passed, 4 failed, 3 skipped");
  expect(r.status).toBe(1);
});
