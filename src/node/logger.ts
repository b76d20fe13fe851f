// Logs (pino): JSON lines for journald and pipes, or human-readable lines on a terminal (node.log_format).
import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import { pino, type Logger } from "pino";

export type { Logger };

/** node.log_format: "auto" picks pretty on a TTY and JSON otherwise. */
export type LogFormat = "auto" | "json" | "pretty";

const LEVELS: Record<number, [string, string]> = {
  10: ["TRACE", "\x1b[90m"],
  20: ["DEBUG", "\x1b[36m"],
  30: ["INFO ", "\x1b[32m"],
  40: ["WARN ", "\x1b[33m"],
  50: ["ERROR", "\x1b[31m"],
  60: ["FATAL", "\x1b[35m"],
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
/** Fields every line carries (shown elsewhere on the line or not at all). */
const SKIP = new Set(["level", "time", "msg", "service", "pid", "hostname"]);
const MAX_VALUE = 300;

function valueText(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === "object" && "message" in v && typeof (v as { message: unknown }).message === "string") {
    const e = v as { type?: string; message: string; code?: string };
    return JSON.stringify(`${e.type ?? "Error"}${e.code ? ` ${e.code}` : ""}: ${e.message}`);
  }
  const s = JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}...` : s;
}

/**
 * One pino JSON line as a human-readable line: "HH:MM:SS.mmm LEVEL message key=value ...", coloured when `color`.
 * Lines that are not JSON objects are returned unchanged.
 */
export function prettyLine(line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (o === null || typeof o !== "object") return line;
  const [name, tint] = LEVELS[o.level as number] ?? [String(o.level).toUpperCase().padEnd(5), ""];
  const t = typeof o.time === "string" ? o.time : new Date(typeof o.time === "number" ? o.time : Date.now()).toISOString();
  const clock = t.length >= 23 ? t.slice(11, 23) : t;
  const fields = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${valueText(v)}`)
    .join(" ");
  const msg = typeof o.msg === "string" ? o.msg : "";
  if (!color) return `${clock} ${name} ${msg}${fields ? ` ${fields}` : ""}`;
  return `${DIM}${clock}${RESET} ${tint}${name}${RESET} ${msg}${fields ? ` ${DIM}${fields}${RESET}` : ""}`;
}

/** A pino destination that writes each JSON line as a pretty line to a file descriptor or stream. */
function prettyDestination(out: NodeJS.WritableStream | number, color: boolean): { write(s: string): boolean } {
  let pending = "";
  return {
    write(chunk: string) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const text = `${prettyLine(pending.slice(0, nl), color)}\n`;
        pending = pending.slice(nl + 1);
        if (typeof out === "number") writeSync(out, text);
        else out.write(text);
      }
      return true;
    },
  };
}

/** The format "auto" resolves to for a destination: pretty on a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, destination: NodeJS.WritableStream | number): "json" | "pretty" {
  if (format !== "auto") return format;
  const tty = typeof destination === "number" ? isatty(destination) : (destination as { isTTY?: boolean }).isTTY === true;
  return tty ? "pretty" : "json";
}

/**
 * A logger at `level` writing to `destination` (default stdout): JSON lines, or human-readable lines for "pretty"
 * ("auto": pretty when the destination is a terminal). Colours only on a terminal, and never with NO_COLOR set.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1, format: LogFormat = "json"): Logger {
  const opts = { level, base: { service: "slowdrip" }, timestamp: pino.stdTimeFunctions.isoTime };
  if (resolveLogFormat(format, destination) === "pretty") {
    const tty = typeof destination === "number" ? isatty(destination) : (destination as { isTTY?: boolean }).isTTY === true;
    return pino(opts, prettyDestination(destination, tty && !process.env.NO_COLOR));
  }
  const dest = typeof destination === "number" ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino(opts, dest);
}
