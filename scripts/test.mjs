// npm test: build, then run vitest and end with the line CI reads: "N passed, N failed[, N skipped]".
//
// The counts come from scripts/summary-reporter.mjs: tests that a failing hook (a beforeAll, say) kept from running
// count as failed, not skipped. SLOWDRIP_TEST_NO_BUILD=1 skips the build (the runner's own test uses it);
// SLOWDRIP_TEST_SUMMARY names the counts file (default build/test-summary.json).
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = process.env.SLOWDRIP_TEST_SUMMARY || join(root, "build/test-summary.json");
const env = { ...process.env, SLOWDRIP_TEST_SUMMARY: out };
const run = (args) => spawnSync(process.execPath, args, { stdio: "inherit", cwd: root, env });

if (process.env.SLOWDRIP_TEST_NO_BUILD !== "1") {
  const b = run([join(root, "scripts/build.mjs")]);
  if (b.status !== 0) {
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const reporter = join(root, "scripts/summary-reporter.mjs");
const r = run([vitest, "run", "--reporter=default", `--reporter=${reporter}`, ...process.argv.slice(2)]);

let passed = 0, failed = 0, skipped = 0;
try {
  ({ passed, failed, skipped } = JSON.parse(readFileSync(out, "utf8")));
} catch {
  failed = Math.max(failed, 1);
}
if (r.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
