// Field kinds of the config schema: how each value is parsed, validated, described and printed.
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.ts";

/** One config field: its default, how to parse text/YAML values, and the allowed range for error messages. */
export interface Field<T> {
  readonly kind: string;
  readonly default: T;
  readonly doc: string;
  /** Long CLI flag name without dashes, when the field has a dedicated flag. */
  readonly flag?: string;
  /** Human description of the allowed values, used in error messages. */
  readonly allowed: string;
  /** Parses a value from YAML (any JSON-ish value) or from text (env, flags). Throws RangeError/TypeError. */
  parse(value: unknown): T;
  /** Renders a value the way the sample config writes it. */
  format(value: T): string;
}

interface Common {
  doc: string;
  flag?: string;
}

function text(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new TypeError(`expected ${what}, got ${value === null ? "null" : typeof value}`);
}

/** A free string, optionally matched against a pattern. */
export function str(def: string, opts: Common & { pattern?: RegExp; patternDoc?: string; maxLength?: number }): Field<string> {
  const maxLength = opts.maxLength ?? 4096;
  const allowed = opts.patternDoc ?? `a string of at most ${maxLength} characters`;
  return {
    kind: "string", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const s = text(v, "a string");
      if (s.length > maxLength) throw new RangeError(`must be at most ${maxLength} characters`);
      if (opts.pattern && !opts.pattern.test(s)) throw new RangeError(`"${s}" is not ${allowed}`);
      return s;
    },
    format: (v) => JSON.stringify(v),
  };
}

/** An integer within [min, max]. */
export function int(def: number, opts: Common & { min: number; max: number }): Field<number> {
  const allowed = `an integer from ${opts.min} to ${opts.max}`;
  return {
    kind: "int", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const n = typeof v === "number" ? v : Number(text(v, "an integer").trim() || "x");
      if (!Number.isInteger(n)) throw new RangeError(`"${String(v)}" is not an integer`);
      if (n < opts.min || n > opts.max) throw new RangeError(`${n} is out of range`);
      return n;
    },
    format: (v) => String(v),
  };
}

/** A boolean: true/false, yes/no, on/off, 1/0. */
export function bool(def: boolean, opts: Common): Field<boolean> {
  return {
    kind: "bool", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed: "true or false",
    parse(v) {
      if (typeof v === "boolean") return v;
      const s = text(v, "a boolean").trim().toLowerCase();
      if (["true", "yes", "on", "1"].includes(s)) return true;
      if (["false", "no", "off", "0"].includes(s)) return false;
      throw new RangeError(`"${s}" is not a boolean`);
    },
    format: (v) => String(v),
  };
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(values: readonly T[], def: T, opts: Common): Field<T> {
  const allowed = `one of ${values.join(", ")}`;
  return {
    kind: "enum", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const s = text(v, "a string");
      if (!(values as readonly string[]).includes(s)) throw new RangeError(`"${s}" is not allowed`);
      return s as T;
    },
    format: (v) => v,
  };
}

/** A byte size ("64MiB") within [min, max] bytes. */
export function size(def: string, opts: Common & { min: number; max: number }): Field<number> {
  const allowed = `a size from ${formatSize(opts.min)} to ${formatSize(opts.max)} (e.g. "64MiB")`;
  return {
    kind: "size", default: parseSize(def), doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const n = parseSize(typeof v === "number" ? v : text(v, "a size"));
      if (n < opts.min || n > opts.max) throw new RangeError(`${formatSize(n)} is out of range`);
      return n;
    },
    format: (v) => JSON.stringify(formatSize(v)),
  };
}

/** A duration ("30s"), stored in milliseconds, within [min, max]. */
export function duration(def: string, opts: Common & { min: number; max: number }): Field<number> {
  const allowed = `a duration from ${formatDuration(opts.min)} to ${formatDuration(opts.max)} (e.g. "30s")`;
  return {
    kind: "duration", default: parseDuration(def), doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const n = parseDuration(typeof v === "number" ? v : text(v, "a duration"));
      if (n < opts.min || n > opts.max) throw new RangeError(`${formatDuration(n)} is out of range`);
      return n;
    },
    format: (v) => JSON.stringify(formatDuration(v)),
  };
}

/** True for a loopback host: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** "HOST:PORT" for a listener; port 0 picks a free port. With `loopback`, the host must be a loopback address. */
export function hostPort(def: string, opts: Common & { loopback?: boolean }): Field<string> {
  const allowed = opts.loopback
    ? `LOOPBACK_HOST:PORT with a port from 0 to 65535 (127.0.0.0/8, [::1] or localhost; e.g. "127.0.0.1:8082")`
    : `HOST:PORT with a port from 0 to 65535 (e.g. "127.0.0.1:8080", "[::]:8080")`;
  return {
    kind: "hostport", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      const s = text(v, "HOST:PORT");
      const { host } = splitHostPort(s);
      if (opts.loopback && !isLoopbackHost(host)) throw new RangeError(`"${host}" is not a loopback address`);
      return s;
    },
    format: (v) => JSON.stringify(v),
  };
}

/** Splits "HOST:PORT" / "[v6]:PORT"; throws RangeError when malformed. */
export function splitHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`"${s}" is not HOST:PORT`);
  return { host: (m[1] ?? m[2])!, port };
}

/** A list of strings (YAML sequence, or comma-separated text in env and flags). */
export function list(def: string[], opts: Common & { item?: (s: string) => void; itemDoc?: string; maxItems?: number }): Field<string[]> {
  const maxItems = opts.maxItems ?? 256;
  const allowed = `a list of at most ${maxItems} ${opts.itemDoc ?? "strings"}`;
  return {
    kind: "list", default: def, doc: opts.doc, ...(opts.flag ? { flag: opts.flag } : {}), allowed,
    parse(v) {
      let items: unknown[];
      if (Array.isArray(v)) items = v;
      else if (typeof v === "string") items = v.trim() === "" ? [] : v.split(",").map((x) => x.trim());
      else throw new TypeError(`expected a list, got ${v === null ? "null" : typeof v}`);
      if (items.length > maxItems) throw new RangeError(`has ${items.length} items`);
      return items.map((x, i) => {
        if (typeof x !== "string") throw new TypeError(`item ${i} is not a string`);
        try {
          opts.item?.(x);
        } catch (err) {
          throw new RangeError(`item ${i} "${x}": ${(err as Error).message}`);
        }
        return x;
      });
    },
    format: (v) => (v.length === 0 ? "[]" : `[${v.map((x) => JSON.stringify(x)).join(", ")}]`),
  };
}
