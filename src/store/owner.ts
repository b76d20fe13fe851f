// Process identity for LMDB ownership records: pid plus boot id and start time, so a reused pid is not mistaken for the owner.
import { readFileSync } from "node:fs";

/** Who holds (or held) a store: enough to tell whether that exact process is still running. */
export interface ProcessIdentity {
  pid: number;
  /** /proc/sys/kernel/random/boot_id, or "" where unavailable. */
  boot: string;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22), or -1 where unavailable. */
  start: number;
  /** The process's user id (absent in records made before it was kept). */
  uid?: number;
}

function readBoot(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

function startTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const v = Number(rest[19]);
    return Number.isFinite(v) ? v : -1;
  } catch {
    return -1;
  }
}

/** This process. */
export function currentProcess(): ProcessIdentity {
  const uid = process.getuid?.();
  return { pid: process.pid, boot: readBoot(), start: startTicks(process.pid), ...(uid !== undefined ? { uid } : {}) };
}

/**
 * True when the process the record names is still running (same boot, same pid, same start time). Where boot id and
 * start time cannot be read (the appliance's sandbox hides /proc/sys and other users' processes), a pid that answers
 * signal 0 counts as running, unless it refuses it (EPERM) while the record names our own user: a process of ours
 * would accept it, so that pid now belongs to another user's process (a pid reused after a reboot).
 */
export function isRunning(p: ProcessIdentity | undefined): boolean {
  if (!p || !Number.isSafeInteger(p.pid) || p.pid <= 0) return false;
  const boot = readBoot();
  if (p.boot && boot && p.boot !== boot) return false;
  if (p.start >= 0) {
    const now = startTicks(p.pid);
    if (now >= 0 || boot) return now === p.start;
  }
  try {
    process.kill(p.pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
    return p.uid === undefined || p.uid !== process.getuid?.();
  }
}
