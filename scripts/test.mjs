// npm test: build, then run vitest and end with the line CI reads: "N passed, N failed[, N skipped]".
//
// The counts come from scripts/summary-reporter.mjs: tests that a failing hook (a beforeAll, say) kept from running
// count as failed, not skipped. SLOWDRIP_TEST_NO_BUILD=1 skips the build (the runner's own test uses it);
// SLOWDRIP_TEST_SUMMARY names the counts file (default build/test-summary.json). Without a filter the image VM tests
// run last (vitest.image.config.ts, counted in the same line); SLOWDRIP_TEST_IMAGE=0 leaves them out.
//
// The whole suite runs in three phases: (1) every test file but the `*.alone.test.ts` ones, two at a time; (2) the
// alone files (a 10-minute live publish that needs little CPU) while both images are built once in the background
// (niced), which fills the caches of their root file systems, executables and MediaMTX; (3) the VM tests, whose own
// image builds then take their parts from those caches. On a new machine phase 2 hides the root file systems' build
// (some 11 minutes) behind the live publish.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync, mkdirSync } from "node:fs";
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

/** Runs a child process to its end; resolves to its exit code (signals and spawn errors count as 1). */
function exitOf(cmd, argv, opts) {
  return new Promise((resolve) => {
    const c = spawn(cmd, argv, { cwd: root, ...opts });
    c.on("error", (e) => {
      console.log(`${cmd}: ${e.message}`);
      resolve(1);
    });
    c.on("close", (code) => resolve(code ?? 1));
  });
}

/** One vitest run with the summary reporter: its counts, or one failure when it left none. */
async function phase(args, summary) {
  rmSync(summary, { force: true });
  const status = await exitOf(process.execPath, [vitest, "run", "--reporter=default", `--reporter=${reporter}`, ...args], {
    stdio: "inherit", env: { ...env, SLOWDRIP_TEST_SUMMARY: summary },
  });
  let c = { passed: 0, failed: 0, skipped: 0 };
  try {
    c = JSON.parse(readFileSync(summary, "utf8"));
  } catch {
    c.failed = Math.max(c.failed, 1);
  }
  if (status !== 0 && c.failed === 0) c.failed = 1;
  return c;
}

/**
 * Builds both images once, niced, with the VM tests' flags (so that the caches it fills are the ones their builds
 * read), into build/prewarm/, removed after; the output goes to build/image-prewarm.log. A failure here fails no test:
 * the VM tests build again and report it.
 */
async function prewarmImages() {
  const logPath = join(root, "build/image-prewarm.log");
  const fd = openSync(logPath, "w");
  try {
    for (const arch of ["x64", "arm64"]) {
      const dir = join(root, "build/prewarm", arch);
      const t0 = Date.now();
      const code = await exitOf("nice", ["-n", "10", process.execPath, join(root, "image/build.mjs"), "--arch", arch, "--raw", "--debug-shell", "--out", dir], { stdio: ["ignore", fd, fd], env });
      rmSync(dir, { recursive: true, force: true });
      const s = ((Date.now() - t0) / 1000).toFixed(0);
      console.log(`image prewarm ${arch}: ${code === 0 ? "built" : `failed (exit ${code}; build/image-prewarm.log)`} in ${s} s`);
    }
  } finally {
    closeSync(fd);
  }
}

const args = process.argv.slice(2);
const counts = [];
const imageSummary = out.replace(/(\.json)?$/, "-image.json");
if (args.length > 0 || process.env.SLOWDRIP_TEST_IMAGE === "0") {
  counts.push(await phase(args, out));
  // SLOWDRIP_TEST_IMAGE=0 leaves the VM tests out (a developer's quick run; CI runs them) and says so.
  if (args.length === 0) console.log("image VM tests not run (SLOWDRIP_TEST_IMAGE=0): npm run test:image runs them");
} else {
  counts.push(await phase(["--project", "main"], out));
  console.log("\n==> the alone test files, while both images are built once in the background (niced)");
  const [alone] = await Promise.all([phase(["--project", "alone", "--passWithNoTests"], out.replace(/(\.json)?$/, "-alone.json")), prewarmImages()]);
  counts.push(alone);
  // The appliance image's VM tests (vitest.image.config.ts) come last and by themselves: a TCG guest needs both cores.
  console.log("\n==> image VM tests (vitest.image.config.ts: build the images, boot them under qemu)");
  counts.push(await phase(["-c", join(root, "vitest.image.config.ts")], imageSummary));
}
const sum = (k) => counts.reduce((n, c) => n + (c[k] ?? 0), 0);
const [passed, failed, skipped] = [sum("passed"), sum("failed"), sum("skipped")];
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
