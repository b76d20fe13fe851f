// Exponential back-off with jitter, and an abortable sleep, for registration retries, pushes and reconnects.

/**
 * Delay before retry number `attempt` (0-based): `base * 2^attempt`, capped at `max`, then spread by ±20 % so that many
 * nodes retrying at once do not stay in step.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt must be an integer >= 0, got ${attempt}`);
  if (!(baseMs > 0) || !(maxMs >= baseMs)) throw new RangeError(`back-off needs 0 < base <= max, got ${baseMs} and ${maxMs}`);
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
  return Math.max(1, Math.round(raw * (0.8 + 0.4 * random())));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
