// A progress bar for long transfers, drawn on stderr only when it is a terminal; byte sizes as people read them.

/** A stream that may be a terminal. */
export type MaybeTty = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Bytes as "1.5 GiB". */
export function formatBytes(n: number | bigint): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** The bar's text for `done` of `total` bytes after `ms` milliseconds, fitted to `width` columns. */
export function renderProgress(label: string, done: number, total: number | undefined, ms: number, width = 80): string {
  const rate = ms > 0 ? `${formatBytes((done * 1000) / ms)}/s` : "";
  const tail = total ? `${formatBytes(done)}/${formatBytes(total)} ${rate}` : `${formatBytes(done)} ${rate}`;
  if (!total) return `${label} ${tail}`.slice(0, width);
  const pct = Math.min(100, Math.floor((done / total) * 100));
  const room = Math.max(10, width - label.length - tail.length - 10);
  const filled = Math.round((room * pct) / 100);
  return `${label} [${"#".repeat(filled)}${" ".repeat(room - filled)}] ${String(pct).padStart(3)}% ${tail}`.slice(0, width);
}

/** Draws at most ten times a second; does nothing unless the stream is a TTY. */
export class Progress {
  readonly #out: MaybeTty;
  readonly #label: string;
  readonly #start = Date.now();
  #total: number | undefined;
  #done = 0;
  #drawn = 0;
  readonly #on: boolean;

  constructor(out: MaybeTty, label: string, total?: number) {
    this.#out = out;
    this.#label = label;
    this.#total = total;
    this.#on = out.isTTY === true;
  }

  /** Sets the total once it is known. */
  total(n: number): void {
    this.#total = n;
  }

  /** Counts `n` more bytes. */
  add(n: number): void {
    this.#done += n;
    if (!this.#on) return;
    const now = Date.now();
    if (now - this.#drawn < 100) return;
    this.#drawn = now;
    this.#out.write(`\r${renderProgress(this.#label, this.#done, this.#total, now - this.#start, (this.#out.columns ?? 80) - 1)}`);
  }

  /** Clears the bar. */
  end(): void {
    if (this.#on && this.#drawn > 0) this.#out.write(`\r${" ".repeat((this.#out.columns ?? 80) - 1)}\r`);
  }
}
