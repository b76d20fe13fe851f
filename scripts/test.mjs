// npm test: build, then run vitest and end with the line CI reads: "N passed, N failed[, N skipped]".
//
// The counts come from scripts/summary-reporter.mjs: tests that a failing hook (a beforeAll, say) kept from running
// count as failed, not skipped. SLOWDRIP_TEST_NO_BUILD=1 skips the build (the runner's own test uses it);
// SLOWDRIP_TEST_SUMMARY names the counts file (default build/test-summary.json). Without a filter the image VM tests
// run last (vitest.image.config.ts, counted in the same line); SLOWDRIP_TEST_IMAGE=0 leaves them out.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = process.env.SLOWDRIP_TEST_SUMMARY || join(root, "build/test-summary.json");
const env = { ...process.env, SLOWDRIP_TEST_SUMMARY: out };
const run = (a) => spawnSync(process.execPath, a, { stdio: "inherit", cwd: root, env });

if (process.env.SLOWDRIP_TEST_NO_BUILD !== "1") {
  const b = run([join(root, "scripts/build.mjs")]);
  if (b.status !== 0) {
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

mkdirSync(dirname(out), { recursive: true });
const vitest = join(root, "node_modules/vitest/vitest.mjs");
const reporter = join(root, "scripts/summary-reporter.mjs");

/** One vitest run with the summary reporter: its counts, or one failure when it left none. */
function phase(args, summary) {
  rmSync(summary, { force: true });
  const r = spawnSync(process.execPath, [vitest, "run", "--reporter=default", `--reporter=${reporter}`, ...args], {
    stdio: "inherit", cwd: root, env: { ...env, SLOWDRIP_TEST_SUMMARY: summary },
  });
  let c = { passed: 0, failed: 0, skipped: 0 };
  try {
    c = JSON.parse(readFileSync(summary, "utf8"));
  } catch {
    c.failed = Math.max(c.failed, 1);
  }
  if (r.status !== 0 && c.failed === 0) c.failed = 1;
  return c;
}

const args = process.argv.slice(2);
const counts = [phase(args, out)];
// The whole suite (no filter) ends with the appliance image's VM tests (vitest.image.config.ts): alone, after
// everything else, because a TCG guest needs both cores. SLOWDRIP_TEST_IMAGE=0 leaves them out (a developer's quick
// run; CI runs them) and says so.
if (args.length === 0 && process.env.SLOWDRIP_TEST_IMAGE === "0") {
  console.log("image VM tests not run (SLOWDRIP_TEST_IMAGE=0): npm run test:image runs them");
} else if (args.length === 0) {
  console.log("\n==> image VM tests (vitest.image.config.ts: build the images, boot them under qemu)");
  counts.push(phase(["-c", join(root, "vitest.image.config.ts")], out.replace(/(\.json)?$/, "-image.json")));
}
const sum = (k) => counts.reduce((n, c) => n + (c[k] ?? 0), 0);
const [passed, failed, skipped] = [sum("passed"), sum("failed"), sum("skipped")];
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
