// The health gate of a trial boot: the node's /readyz must turn green within update.health_timeout. A node that keeps
// exiting fails the trial at once, without waiting out the timeout.
import { spawn } from "node:child_process";

/** What systemd says of the node's unit: its active state and how often it was restarted since boot. */
export interface UnitState {
  active: string;
  restarts: number;
}

/** Restarts of the node's unit after which a trial boot fails without waiting for the timeout. */
export const GATE_MAX_RESTARTS = 3;

export interface GateOptions {
  /** The node's /readyz. */
  url: string;
  timeoutMs: number;
  /** The node unit's state; undefined when it cannot be read (the gate then waits for /readyz alone). */
  unit: () => Promise<UnitState | undefined>;
  /** Time between probes (default 2 s). */
  intervalMs?: number;
}

/** The gate's verdict and why. */
export interface GateResult {
  ok: boolean;
  reason: string;
}

/**
 * Probes `url` until it answers 200 (ok), the timeout passes, the unit has been restarted GATE_MAX_RESTARTS times or
 * has failed (not ok). Each probe is bounded by 5 s.
 */
export async function runGate(o: GateOptions): Promise<GateResult> {
  if (!(o.timeoutMs > 0)) throw new RangeError("timeoutMs must be positive");
  const end = Date.now() + o.timeoutMs;
  const interval = o.intervalMs ?? 2_000;
  let last = "no answer";
  for (;;) {
    try {
      const r = await fetch(o.url, { signal: AbortSignal.timeout(5_000) });
      await r.body?.cancel();
      if (r.status === 200) return { ok: true, reason: `${o.url} is green` };
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    const u = await o.unit().catch(() => undefined);
    if (u && u.active === "failed") return { ok: false, reason: `the node's unit has failed (${u.restarts} restarts; ${o.url}: ${last})` };
    if (u && u.restarts >= GATE_MAX_RESTARTS) return { ok: false, reason: `the node exited and was restarted ${u.restarts} times (${o.url}: ${last})` };
    if (Date.now() >= end) return { ok: false, reason: `${o.url} not green within update.health_timeout (${last})` };
    await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, end - Date.now()))));
  }
}

/** Parses `systemctl show -p ActiveState -p NRestarts` output; undefined when a field is missing. */
export function parseUnitState(text: string): UnitState | undefined {
  const f = new Map(text.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).trim()] as const));
  const active = f.get("ActiveState");
  const restarts = Number(f.get("NRestarts"));
  if (!active || !Number.isSafeInteger(restarts) || restarts < 0) return undefined;
  return { active, restarts };
}

/** The state of a systemd unit through `systemctl show` (bounded by 10 s); undefined when systemctl fails. */
export function systemdUnitState(unit: string): Promise<UnitState | undefined> {
  return new Promise((resolve) => {
    const c = spawn("systemctl", ["show", "-p", "ActiveState", "-p", "NRestarts", unit], { stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
    let out = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (out.length < 4096) out += d;
    });
    c.on("error", () => resolve(undefined));
    c.on("close", (code) => resolve(code === 0 ? parseUnitState(out) : undefined));
  });
}
