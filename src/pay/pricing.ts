// Pricing: per-service prices (sats per MiB or per minute), free allowance per client, free peers and free paths.
import { isIPv4, isIPv6 } from "node:net";

/** Services the node charges for. */
export const SERVICES = ["content-download", "relay-bandwidth", "live-view"] as const;
export type ServiceName = (typeof SERVICES)[number];

/** How a service is metered. */
export type MeterUnit = "byte" | "ms";

export const MiB = 1024 * 1024;
const MINUTE_MS = 60_000;

/** The `pay` config section, as typed values (sizes in bytes, durations in ms). */
export interface PricingConfig {
  /** Charge at all; when false every request is free. */
  enabled: boolean;
  /** Mints whose tokens are accepted (also seeded into the wallet's trust list). */
  trustedMints: readonly string[];
  /** Sats per MiB for blob reads. */
  contentDownload: number;
  /** Sats per MiB for relayed bytes. */
  relayBandwidth: number;
  /** Sats per minute of live viewing. */
  liveView: number;
  /** Bytes each client may read free per UTC day (0 = none). */
  freeAllowance: number;
  /** Node ids (64-hex Ed25519) whose signed requests are free. */
  freePeers: readonly string[];
  /** Path prefixes that are always free (e.g. "/live/updates/"). */
  freePaths: readonly string[];
  /** Allotment sold when the client asks for a session without naming a size. */
  sessionDefault: number;
  /** Largest allotment one payment may buy. */
  sessionMax: number;
  /** Minutes sold for live-view when the client names none. */
  liveViewDefaultMinutes: number;
  /** Largest X-Cashu / session header accepted, in bytes. */
  headerMax: number;
  /** Idle sessions expire after this many ms. */
  sessionTtl: number;
}

/** Defaults of the `pay` section (also the documented defaults for src/config/schema.ts). */
export const DEFAULT_PRICING: PricingConfig = {
  enabled: false,
  trustedMints: [],
  contentDownload: 1,
  relayBandwidth: 1,
  liveView: 1,
  freeAllowance: 0,
  freePeers: [],
  freePaths: [],
  sessionDefault: 64 * MiB,
  sessionMax: 16 * 1024 * MiB,
  liveViewDefaultMinutes: 10,
  headerMax: 8 * 1024,
  sessionTtl: 24 * 3_600_000,
};

/** Validates a pricing config and fills defaults; throws RangeError naming the field. */
export function pricingConfig(partial: Partial<PricingConfig> = {}): PricingConfig {
  const c: PricingConfig = { ...DEFAULT_PRICING, ...partial };
  const nonNeg = (name: string, v: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new RangeError(`pay.${name} must be an integer from 0 to ${max}, got ${v}`);
  };
  nonNeg("pricing.content_download", c.contentDownload, 1_000_000_000);
  nonNeg("pricing.relay_bandwidth", c.relayBandwidth, 1_000_000_000);
  nonNeg("pricing.live_view", c.liveView, 1_000_000_000);
  nonNeg("free_allowance", c.freeAllowance);
  nonNeg("session_default", c.sessionDefault);
  nonNeg("session_max", c.sessionMax);
  nonNeg("live_view_default_minutes", c.liveViewDefaultMinutes, 10_080);
  nonNeg("header_max", c.headerMax, 1024 * 1024);
  nonNeg("session_ttl", c.sessionTtl);
  if (c.sessionDefault > c.sessionMax) throw new RangeError("pay.session_default must not exceed pay.session_max");
  for (const p of c.freePeers) if (!/^[0-9a-f]{64}$/.test(p)) throw new RangeError(`pay.free_peers: "${p}" is not a 64-hex node id`);
  for (const p of c.freePaths) if (!p.startsWith("/")) throw new RangeError(`pay.free_paths: "${p}" must start with /`);
  return c;
}

/** Price and meter unit of one service. */
export interface ServicePrice {
  service: ServiceName;
  unit: MeterUnit;
  /** Sats per MiB (byte services) or per minute (live-view). */
  rate: number;
}

/** The pricing rules as a small pure object. */
export class Pricing {
  readonly config: PricingConfig;
  private readonly freePeers: ReadonlySet<string>;

  constructor(config: Partial<PricingConfig> = {}) {
    this.config = pricingConfig(config);
    this.freePeers = new Set(this.config.freePeers);
  }

  /** The price row of a service. */
  service(service: ServiceName): ServicePrice {
    switch (service) {
      case "content-download":
        return { service, unit: "byte", rate: this.config.contentDownload };
      case "relay-bandwidth":
        return { service, unit: "byte", rate: this.config.relayBandwidth };
      case "live-view":
        return { service, unit: "ms", rate: this.config.liveView };
      default:
        throw new RangeError(`unknown service ${String(service)}`);
    }
  }

  /** Sats for `quantity` (bytes, or ms for live-view), rounded up; at least 1 sat for any non-zero paid quantity. */
  price(service: ServiceName, quantity: number): number {
    if (!Number.isSafeInteger(quantity) || quantity < 0) throw new RangeError(`quantity must be a non-negative integer, got ${quantity}`);
    const { unit, rate } = this.service(service);
    if (rate === 0 || quantity === 0) return 0;
    const per = unit === "byte" ? MiB : MINUTE_MS;
    return Math.max(1, Number((BigInt(quantity) * BigInt(rate) + BigInt(per - 1)) / BigInt(per)));
  }

  /** What `sats` buys (bytes, or ms for live-view), rounded down. */
  allotment(service: ServiceName, sats: number): number {
    const { unit, rate } = this.service(service);
    if (rate === 0) return Number.MAX_SAFE_INTEGER;
    const per = unit === "byte" ? MiB : MINUTE_MS;
    return Number((BigInt(Math.max(0, sats)) * BigInt(per)) / BigInt(rate));
  }

  /** True when the path starts with one of the free prefixes. */
  isFreePath(path: string): boolean {
    return this.config.freePaths.some((p) => path.startsWith(p));
  }

  /** True when the (verified) peer id is on the free list. */
  isFreePeer(peer: string | undefined): boolean {
    return peer !== undefined && this.freePeers.has(peer);
  }

  /**
   * Whom a read's free allowance is counted against: a signed peer by its id only when it is listed in
   * pay.free_peers; anyone else by the network it comes from, so that minting new keys (or taking another address in
   * one's own IPv6 /64) gains nothing.
   */
  allowanceKey(address: string, peer?: string): string {
    if (peer !== undefined && this.isFreePeer(peer)) return `peer:${peer}`;
    return `net:${addressBucket(address)}`;
  }
}

/** The service a stored blob is sold as: live segments (stored by the ingest) at the live-view price, else downloads. */
export function serviceForBlob(meta: { source: string; tags: readonly string[] }): ServiceName {
  return meta.source === "segment" || meta.tags.some((t) => t.startsWith("live:")) ? "live-view" : "content-download";
}

/** An IPv4 address as is (also when IPv4-mapped), an IPv6 address as its /64, anything else unchanged. */
export function addressBucket(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const bare = address.split("%")[0]!; // zone index
  const [head = "", tail = ""] = bare.split("::");
  const h = head ? head.split(":") : [];
  const t = bare.includes("::") && tail ? tail.split(":") : [];
  // An embedded IPv4 tail counts as one group here, which only shifts groups after the first four.
  const groups = bare.includes("::") ? [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t] : h;
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(":")}::/64`;
}
