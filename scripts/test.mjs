// npm test: build, then run vitest and end with the line CI reads: "N passed, N failed[, N skipped]".
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (args) => spawnSync(process.execPath, args, { stdio: "inherit", cwd: root, env: process.env });

const b = run([join(root, "scripts/build.mjs")]);
if (b.status !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const out = join(root, "build/test-results.json");
mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const r = run([vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)]);

let passed = 0, failed = 0, skipped = 0;
try {
  const res = JSON.parse(readFileSync(out, "utf8"));
  passed = res.numPassedTests;
  failed = res.numFailedTests + (res.numRuntimeErrorTestSuites ?? 0);
  skipped = (res.numPendingTests ?? 0) + (res.numTodoTests ?? 0);
  // A suite that failed to load counts as a failure even if it declared no tests.
  for (const s of res.testResults ?? []) if (s.status === "failed" && (s.assertionResults ?? []).length === 0) failed++;
} catch {
  failed = Math.max(failed, 1);
}
if (r.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
