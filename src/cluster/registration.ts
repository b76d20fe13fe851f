// A miner's membership: register (back-off, RATE_LIMITED honoured), heartbeat, register again on UNKNOWN, follow maps.
import type { Logger } from "../node/logger.ts";
import { backoffDelay, sleep } from "./backoff.ts";
import { MapError } from "./errors.ts";
import type { MinerReport, RebalanceFigures, ValidatorLink } from "./net.ts";
import type { MinerStats } from "./stats.ts";
import type { MapHolder } from "./view.ts";

/** Where the miner stands with its validator (shown in /readyz). */
export type Membership =
  | { state: "unregistered"; detail: string }
  | { state: "registered"; epoch: number }
  | { state: "rejected"; reason: string };

/** What the registrar needs. */
export interface RegistrarDeps {
  link: ValidatorLink;
  view: MapHolder;
  /** The miner's endpoint, family and capacity, read at each registration. */
  report: () => MinerReport;
  /** What each heartbeat carries. */
  heartbeat: () => { availableBytes: number; shardsStored: number; rebalance: RebalanceFigures };
  retryMs: number;
  maxBackoffMs: number;
  heartbeatMs: number;
  stats: MinerStats;
  log: Logger;
  /** Told of every change of membership. */
  onChange: (m: Membership) => void;
}

/**
 * Runs the membership loops until `signal` aborts: registration with exponential back-off (honouring RATE_LIMITED's
 * retry-after), heartbeats every interval (UNKNOWN makes it register again), and a WatchClusterMap stream; heartbeats
 * that report a newer epoch fetch the map. Every map goes through the MapHolder, which verifies it.
 */
export class Registrar {
  readonly #d: RegistrarDeps;
  #membership: Membership = { state: "unregistered", detail: "starting" };
  #syncing = false;

  constructor(deps: RegistrarDeps) {
    this.#d = deps;
  }

  get membership(): Membership {
    return this.#membership;
  }

  #set(m: Membership): void {
    this.#membership = m;
    this.#d.onChange(m);
  }

  /** Starts the loops; resolves when `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const watching = this.#watch(signal);
    try {
      while (!signal.aborted) {
        await this.#register(signal);
        await this.#heartbeats(signal);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    await watching;
  }

  async #register(signal: AbortSignal): Promise<void> {
    const { link, stats, log } = this.#d;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      let wait = backoffDelay(Math.min(attempt, 30), this.#d.retryMs, Math.max(this.#d.retryMs, this.#d.maxBackoffMs));
      try {
        const a = await link.register(this.#d.report());
        if (a.status === "ok") {
          stats.registrations.ok++;
          log.info({ epoch: a.epoch }, "registered with the validator");
          this.#set({ state: "registered", epoch: this.#d.view.epoch() });
          await this.syncMap(a.epoch, signal);
          return;
        }
        if (a.status === "rate-limited") {
          stats.registrations.rate_limited++;
          wait = Math.max(wait, a.retryAfterMs);
          log.warn({ retry_after_ms: a.retryAfterMs }, "registration rate-limited by the validator");
          this.#set({ state: "unregistered", detail: `rate-limited; retrying in ${Math.round(wait)} ms` });
        } else {
          stats.registrations.family_rejected++;
          log.error({ reason: a.reason }, "the validator rejected this node's family (cluster.family)");
          this.#set({ state: "rejected", reason: `family rejected: ${a.reason}` });
        }
      } catch (err) {
        if (signal.aborted) throw err;
        stats.registrations.error++;
        const msg = err instanceof Error ? err.message : String(err);
        if (attempt === 0 || attempt % 10 === 0) log.warn({ err: msg, attempt }, "cannot register with the validator; retrying");
        this.#set({ state: "unregistered", detail: `cannot register: ${msg}` });
      }
      await sleep(wait, signal);
    }
  }

  async #heartbeats(signal: AbortSignal): Promise<void> {
    const { link, stats, log } = this.#d;
    let failures = 0;
    for (;;) {
      // After a failed heartbeat the next one comes sooner, so one lost request does not look like silence.
      await sleep(failures > 0 ? Math.max(50, Math.floor(this.#d.heartbeatMs / 4)) : this.#d.heartbeatMs, signal);
      let r;
      try {
        r = await link.heartbeat({ ...this.#d.heartbeat(), epoch: this.#d.view.epoch() });
      } catch (err) {
        if (signal.aborted) throw err;
        stats.heartbeats.error++;
        if (failures++ % 10 === 0) log.warn({ err: err instanceof Error ? err.message : String(err) }, "heartbeat failed");
        continue;
      }
      failures = 0;
      if (!r.known) {
        stats.heartbeats.unknown++;
        log.warn("the validator does not know this node (UNKNOWN): registering again");
        this.#set({ state: "unregistered", detail: "validator answered UNKNOWN; registering again" });
        return;
      }
      stats.heartbeats.ok++;
      // The map is fetched beside the heartbeats, never in their way.
      if (r.epoch > this.#d.view.epoch() && !this.#syncing) {
        this.#syncing = true;
        void this.syncMap(r.epoch, signal).catch(() => undefined).finally(() => (this.#syncing = false));
      }
      else if (this.#membership.state === "registered" && this.#membership.epoch !== this.#d.view.epoch()) this.#set({ state: "registered", epoch: this.#d.view.epoch() });
    }
  }

  /** Fetches and applies the current map when the validator reports an epoch newer than ours. */
  async syncMap(epoch: number, signal?: AbortSignal): Promise<void> {
    if (epoch <= this.#d.view.epoch()) return;
    try {
      this.#offer(await this.#d.link.map(0, signal));
    } catch (err) {
      if (signal?.aborted) throw err;
      this.#d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "cannot fetch the cluster map");
    }
  }

  #offer(signed: Parameters<MapHolder["offer"]>[0]): void {
    try {
      this.#d.view.offer(signed);
    } catch (err) {
      if (err instanceof MapError && err.reason === "stale") return;
      this.#d.stats.mapsRefused++;
      this.#d.log.warn({ err: err instanceof Error ? err.message : String(err) }, "refused a cluster map");
      return;
    }
    if (this.#membership.state === "registered") this.#set({ state: "registered", epoch: this.#d.view.epoch() });
  }

  /** Follows WatchClusterMap, reconnecting with back-off. */
  async #watch(signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        for await (const signed of this.#d.link.watch(this.#d.view.epoch(), signal)) {
          attempt = 0;
          this.#offer(signed);
        }
      } catch {
        // The validator is down or restarting; heartbeats report the problem, the watch just reconnects.
      }
      try {
        await sleep(backoffDelay(Math.min(attempt, 30), this.#d.retryMs, Math.max(this.#d.retryMs, this.#d.maxBackoffMs)), signal);
      } catch {
        return;
      }
    }
  }
}
