// Vitest reporter behind `npm test`'s closing line: counts passed, failed and skipped tests into a JSON file.
//
// A test counts as skipped only when it was meant to be (it.skip, todo, another test's .only, ctx.skip() in a healthy
// suite). A test that never ran because a hook of an enclosing suite or file failed (beforeAll throwing, say) counts
// as failed, and so does one left pending; a file that failed to load counts as one failed test.
import { writeFileSync } from "node:fs";

/** True when the suite, or any suite or file around it, recorded an error (a failed beforeAll/afterAll hook). */
function enclosingFailed(entity) {
  for (let s = entity.parent; s; s = s.type === "module" ? undefined : s.parent) {
    if (s.errors().length > 0) return true;
  }
  return false;
}

/** Counts of one run: { passed, failed, skipped, skippedByHooks }. */
export function countResults(testModules, unhandledErrors = []) {
  const c = { passed: 0, failed: 0, skipped: 0, skippedByHooks: 0 };
  for (const m of testModules) {
    let tests = 0;
    for (const t of m.children.allTests()) {
      tests++;
      const state = t.result().state;
      if (state === "passed") c.passed++;
      else if (state === "failed") c.failed++;
      else if (state === "skipped" && (t.options.mode === "skip" || t.options.mode === "todo" || !enclosingFailed(t))) c.skipped++;
      else if (state === "skipped") {
        c.failed++;
        c.skippedByHooks++;
      } else c.failed++; // pending: it never ran
    }
    if (tests === 0 && (m.errors().length > 0 || m.state() === "failed")) c.failed++;
  }
  if (unhandledErrors.length > 0) c.failed += 1;
  return c;
}

/** The reporter: writes countResults() to the file named by $SLOWDRIP_TEST_SUMMARY when the run ends. */
export default class SummaryReporter {
  onTestRunEnd(testModules, unhandledErrors) {
    const out = process.env.SLOWDRIP_TEST_SUMMARY;
    if (out) writeFileSync(out, JSON.stringify(countResults(testModules, unhandledErrors)));
  }
}
