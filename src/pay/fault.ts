// Test-only fault injection: SLOWDRIP_TEST_CRASH_AFTER=<op>:<step> kills the process hard right after that step.
// A real mint cannot be made to crash our process at a chosen point, so crash-resume tests need this hook.

let target: string | undefined = process.env.SLOWDRIP_TEST_CRASH_AFTER || undefined;

/** Reached after each persisted step of a mint-touching operation; SIGKILLs the process when it matches the env var. */
export function crashPoint(op: string, step: string): void {
  if (target === undefined || target !== `${op}:${step}`) return;
  process.stderr.write(`slowdrip: SLOWDRIP_TEST_CRASH_AFTER=${target}: killing the process\n`);
  process.kill(process.pid, "SIGKILL");
  // Block until the signal lands so that no further step runs.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}

/** Overrides the crash target (tests in one process); `undefined` disables it. */
export function setCrashTarget(value: string | undefined): void {
  target = value;
}
