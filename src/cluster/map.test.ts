// Signed cluster maps: a map verifies only with the validator's key and in canonical form; the holder applies only
// newer epochs, remembers a few older ones, and tells subscribers.
import { describe, expect, it } from "vitest";
import { randomSecret } from "../identity/ed25519.ts";
import { identityFromSecret } from "../identity/identity.ts";
import { MapError } from "./errors.ts";
import { openSignedMap, signMap, type ClusterMap } from "./map.ts";
import { MapHolder } from "./view.ts";

const validator = identityFromSecret(randomSecret());
const other = identityFromSecret(randomSecret());
const a = "a".repeat(64);
const b = "b".repeat(64);

function map(epoch: number, over: Partial<ClusterMap> = {}): ClusterMap {
  return {
    epoch,
    validator: validator.nodeId,
    pgCount: 64,
    dataShards: 4,
    parityShards: 2,
    allowFamilyReuse: false,
    members: [
      { id: a, endpoint: "http://127.0.0.1:1", family: "f1", weight: 1, state: "up" },
      { id: b, endpoint: "http://127.0.0.1:2", family: "f2", weight: 0, state: "faulty" },
    ],
    wardens: [],
    created: 1_700_000_000_000,
    ...over,
  };
}

const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof MapError ? err.reason : `not a MapError: ${String(err)}`;
  }
  return "accepted";
};

describe("signed maps", () => {
  it("round-trips through canonical JSON with the validator's signature", () => {
    const s = signMap(map(3), validator.secretKey);
    expect(JSON.parse(s.json).type).toBe("slowdrip-cluster-map");
    expect(openSignedMap(s, validator.nodeId)).toEqual(map(3));
  });
  it("refuses a map signed by another key, or a tampered one", () => {
    const forged = signMap({ ...map(3), validator: validator.nodeId }, other.secretKey);
    expect(reason(() => openSignedMap(forged, validator.nodeId))).toBe("bad-signature");
    const s = signMap(map(3), validator.secretKey);
    expect(reason(() => openSignedMap({ ...s, json: s.json.replace('"weight":1', '"weight":9') }, validator.nodeId))).toBe("bad-signature");
  });
  it("refuses a validly signed map that names another validator", () => {
    const s = signMap(map(3, { validator: other.nodeId }), validator.secretKey);
    expect(reason(() => openSignedMap(s, validator.nodeId))).toBe("wrong-validator");
  });
  it("refuses malformed maps before trusting any field", () => {
    expect(reason(() => signMap(map(0), validator.secretKey))).toBe("malformed");
    expect(reason(() => signMap(map(1, { members: [...map(1).members].reverse() }), validator.secretKey))).toBe("malformed");
    expect(reason(() => openSignedMap({ json: "{}", signature: "zz" }, validator.nodeId))).toBe("malformed");
  });
});

describe("MapHolder", () => {
  it("applies only newer epochs, keeps a bounded history, and notifies subscribers", () => {
    const seen: number[] = [];
    const h = new MapHolder(validator.nodeId, 2);
    h.subscribe((m) => seen.push(m.epoch));
    expect(h.offer(signMap(map(2), validator.secretKey))).toEqual({ applied: true, epoch: 2 });
    expect(reason(() => h.offer(signMap(map(2), validator.secretKey)))).toBe("stale");
    expect(reason(() => h.offer(signMap(map(1), validator.secretKey)))).toBe("stale");
    expect(h.offer(signMap(map(1), validator.secretKey), { history: true })).toEqual({ applied: false, epoch: 2 });
    expect(h.at(1)?.epoch).toBe(1);
    h.offer(signMap(map(5), validator.secretKey));
    expect(h.epoch()).toBe(5);
    expect(h.at(1)).toBeUndefined();
    expect(h.member(b)?.state).toBe("faulty");
    expect(seen).toEqual([2, 5]);
  });
  it("refuses a forged newer map and keeps the current one", () => {
    const h = new MapHolder(validator.nodeId, 4);
    h.offer(signMap(map(2), validator.secretKey));
    expect(reason(() => h.offer(signMap({ ...map(9) }, other.secretKey)))).toBe("bad-signature");
    expect(h.epoch()).toBe(2);
  });
});
