// Size ("64MiB") and duration ("30s") parsing and formatting for config values.

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12,
  KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4,
  K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4,
};

/**
 * Parses a byte size such as "64MiB", "1.5GB", "512" (bytes) or "0".
 * Binary units (KiB, MiB, GiB, TiB, and the short K/M/G/T) are powers of 1024; KB/MB/GB/TB are powers of 1000.
 * Throws RangeError with a message describing the accepted form.
 */
export function parseSize(input: string | number): number {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input < 0) throw new RangeError(`size must be a whole number of bytes >= 0, got ${input}`);
    return input;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  if (!m) throw new RangeError(`invalid size "${input}" (expected e.g. "512", "64KiB", "10MiB", "2GiB", "1GB")`);
  const unit = (m[2] ?? "").toUpperCase() || "B";
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) throw new RangeError(`invalid size unit "${m[2]}" in "${input}" (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`);
  const bytes = Number(m[1]) * mult;
  if (!Number.isFinite(bytes) || bytes > Number.MAX_SAFE_INTEGER) throw new RangeError(`size "${input}" is too large`);
  return Math.round(bytes);
}

/** Formats bytes with the largest binary unit that divides it exactly ("64MiB", "1536B" -> "1536B" unless exact). */
export function formatSize(bytes: number): string {
  if (bytes === 0) return "0";
  for (const [unit, mult] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}B`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as "30s", "500ms", "1h30m", "2d" or "0" into milliseconds.
 * Throws RangeError describing the accepted form.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new RangeError(`duration must be >= 0 milliseconds, got ${input}`);
    return input;
  }
  const s = input.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * (DURATION_UNITS[m[2]!] ?? 0);
    pos = re.lastIndex;
  }
  if (pos === 0 || pos !== s.length) {
    throw new RangeError(`invalid duration "${input}" (expected e.g. "500ms", "30s", "5m", "1h30m", "7d")`);
  }
  return total;
}

/** Formats milliseconds compactly ("30s", "1h30m", "250ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0";
  let rest = ms;
  let out = "";
  for (const [unit, mult] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    const n = Math.floor(rest / mult);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * mult;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
