// The cluster map: members, placement parameters and wardens of one epoch, signed by the validator over canonical JSON.
import { sign, verify } from "../identity/ed25519.ts";
import { hex, unhex } from "../identity/hex.ts";
import { canonicalJson } from "../stream/canonical.ts";
import { MapError } from "./errors.ts";

/** A member as the map lists it. Faulty members stay listed (others may pull from them) with weight 0. */
export interface MapMember {
  /** Node id (64 lowercase hex). */
  id: string;
  /** URL it is reached at. */
  endpoint: string;
  /** Failure domain. */
  family: string;
  /** Placement weight; 0 never receives shards. */
  weight: number;
  state: "up" | "faulty";
}

/** One epoch's map. */
export interface ClusterMap {
  epoch: number;
  /** The validator's node id (the signer). */
  validator: string;
  pgCount: number;
  dataShards: number;
  parityShards: number;
  allowFamilyReuse: boolean;
  /** Sorted by id. */
  members: MapMember[];
  wardens: string[];
  /** Unix ms when the epoch began. */
  created: number;
}

/** The wire form: canonical JSON and the validator's signature over it. */
export interface SignedMap {
  json: string;
  /** 128 lowercase hex. */
  signature: string;
}

/** Bounds on what a map may hold (a map is verified before it is parsed, but a validator is still bounded). */
export const MAP_LIMITS = { maxJsonBytes: 2 * 1024 * 1024, maxMembers: 4096, maxWardens: 64, maxEndpoint: 512 } as const;

const HEX64 = /^[0-9a-f]{64}$/;
const FAMILY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENDPOINT = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;
const enc = new TextEncoder();
const PREFIX = enc.encode("slowdrip/v1/CLUSTER_MAP\n");

/** The exact bytes the validator signs: utf8("slowdrip/v1/CLUSTER_MAP\n") || json. */
export function mapSigningBytes(json: string): Uint8Array {
  const body = enc.encode(json);
  const out = new Uint8Array(PREFIX.length + body.length);
  out.set(PREFIX, 0);
  out.set(body, PREFIX.length);
  return out;
}

function toJson(map: ClusterMap): unknown {
  return {
    type: "slowdrip-cluster-map",
    epoch: map.epoch,
    validator: map.validator,
    pg_count: map.pgCount,
    data_shards: map.dataShards,
    parity_shards: map.parityShards,
    allow_family_reuse: map.allowFamilyReuse,
    members: map.members.map((m) => ({ id: m.id, endpoint: m.endpoint, family: m.family, weight: m.weight, state: m.state })),
    wardens: map.wardens,
    created: map.created,
  };
}

/** Checks a map's fields; throws MapError("malformed") naming the first bad one. */
export function checkMap(map: ClusterMap): ClusterMap {
  const bad = (what: string): never => {
    throw new MapError("malformed", `cluster map: ${what}`);
  };
  const int = (v: unknown, min: number, max: number, what: string) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) bad(`${what} must be an integer from ${min} to ${max}`);
  };
  int(map.epoch, 1, Number.MAX_SAFE_INTEGER, "epoch");
  if (!HEX64.test(map.validator)) bad("validator must be a node id");
  int(map.pgCount, 1, 1 << 20, "pg_count");
  int(map.dataShards, 1, 64, "data_shards");
  int(map.parityShards, 1, 32, "parity_shards");
  if (typeof map.allowFamilyReuse !== "boolean") bad("allow_family_reuse must be a boolean");
  int(map.created, 0, Number.MAX_SAFE_INTEGER, "created");
  if (!Array.isArray(map.members) || map.members.length > MAP_LIMITS.maxMembers) bad(`members must be a list of at most ${MAP_LIMITS.maxMembers}`);
  if (!Array.isArray(map.wardens) || map.wardens.length > MAP_LIMITS.maxWardens) bad(`wardens must be a list of at most ${MAP_LIMITS.maxWardens}`);
  for (const w of map.wardens) if (typeof w !== "string" || !HEX64.test(w)) bad("every warden must be a node id");
  let prev = "";
  for (const m of map.members) {
    if (!m || typeof m !== "object") bad("a member is not an object");
    if (!HEX64.test(m.id)) bad("a member id is not a node id");
    if (m.id <= prev) bad("members must be sorted by id, without repeats");
    prev = m.id;
    if (typeof m.endpoint !== "string" || m.endpoint.length > MAP_LIMITS.maxEndpoint || !ENDPOINT.test(m.endpoint)) bad(`member ${m.id} has a bad endpoint`);
    if (typeof m.family !== "string" || !FAMILY.test(m.family)) bad(`member ${m.id} has a bad family`);
    int(m.weight, 0, 0xffff_ffff, `weight of member ${m.id}`);
    if (m.state !== "up" && m.state !== "faulty") bad(`member ${m.id} has state ${String(m.state)}`);
  }
  return map;
}

/** Signs a map with the validator's secret key. */
export function signMap(map: ClusterMap, secretKey: Uint8Array): SignedMap {
  checkMap(map);
  const json = canonicalJson(toJson(map));
  return { json, signature: hex(sign(mapSigningBytes(json), secretKey)) };
}

function fromJson(doc: Record<string, unknown>): ClusterMap {
  if (doc.type !== "slowdrip-cluster-map") throw new MapError("malformed", 'cluster map: type must be "slowdrip-cluster-map"');
  const members = Array.isArray(doc.members) ? doc.members : [];
  return {
    epoch: doc.epoch as number,
    validator: doc.validator as string,
    pgCount: doc.pg_count as number,
    dataShards: doc.data_shards as number,
    parityShards: doc.parity_shards as number,
    allowFamilyReuse: doc.allow_family_reuse as boolean,
    members: members.map((m: Record<string, unknown>) => ({
      id: m?.id as string,
      endpoint: m?.endpoint as string,
      family: m?.family as string,
      weight: m?.weight as number,
      state: m?.state as MapMember["state"],
    })),
    wardens: (Array.isArray(doc.wardens) ? doc.wardens : [null]) as string[],
    created: doc.created as number,
  };
}

/**
 * Verifies a signed map against the validator's node id and parses it. Throws MapError: "bad-signature" when the
 * signature does not verify, "wrong-validator" when the map names another validator, "malformed" otherwise.
 */
export function openSignedMap(signed: SignedMap, validatorId: string): ClusterMap {
  if (!signed || typeof signed.json !== "string" || typeof signed.signature !== "string") throw new MapError("malformed", "a signed map needs json and signature");
  if (signed.json.length > MAP_LIMITS.maxJsonBytes) throw new MapError("malformed", `cluster map is larger than ${MAP_LIMITS.maxJsonBytes} bytes`);
  if (!/^[0-9a-f]{128}$/.test(signed.signature)) throw new MapError("malformed", "map signature must be 128 lowercase hex characters");
  if (!HEX64.test(validatorId)) throw new RangeError("validatorId must be a node id");
  if (!verify(unhex(signed.signature), mapSigningBytes(signed.json), unhex(validatorId))) {
    throw new MapError("bad-signature", `the cluster map's signature is not the validator's (${validatorId.slice(0, 16)}…)`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(signed.json);
  } catch (err) {
    throw new MapError("malformed", "cluster map is not JSON", { cause: err });
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new MapError("malformed", "cluster map is not a JSON object");
  const map = checkMap(fromJson(doc as Record<string, unknown>));
  if (canonicalJson(toJson(map)) !== signed.json) throw new MapError("malformed", "cluster map JSON is not in canonical form");
  if (map.validator !== validatorId) throw new MapError("wrong-validator", `the map names validator ${map.validator}, not ${validatorId}`);
  return map;
}

/** The member of a map with this id, if listed. */
export function memberOf(map: ClusterMap, id: string): MapMember | undefined {
  return map.members.find((m) => m.id === id);
}
