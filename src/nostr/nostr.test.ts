// Nostr key file, binding tag and event checks: round trips, and every malformed or forged input refused.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { finalizeEvent, generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { randomSecret } from "../identity/ed25519.ts";
import { identityFromSecret } from "../identity/identity.ts";
import { bindingTag, verifyBinding } from "./binding.ts";
import { checkEvent, parseTollgate, signNodeEvent, tollgateTemplate, type Signer } from "./events.ts";
import { tollgateFromPricing } from "./adverts.ts";
import { loadOrCreateNostrKey, xOnlyPublicKey } from "./keys.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function signer(): Signer {
  const id = identityFromSecret(randomSecret());
  const sk = generateSecretKey();
  return { key: { secretKey: sk, pubkey: getPublicKey(sk) }, nodeId: id.nodeId, nodeSecret: id.secretKey };
}

describe("nostr.key", () => {
  it("is created once with mode 0600 and loaded again", () => {
    const d = mkdtempSync(join(tmpdir(), "sd-nostr-"));
    dirs.push(d);
    const a = loadOrCreateNostrKey(d);
    expect(a.created).toBe(true);
    const b = loadOrCreateNostrKey(d);
    expect(b.created).toBe(false);
    expect(b.key.pubkey).toBe(a.key.pubkey);
    expect(JSON.parse(readFileSync(join(d, "nostr.key"), "utf8")).public).toBe(a.key.pubkey);
  });

  it("refuses a group-readable file and a damaged one", () => {
    const d = mkdtempSync(join(tmpdir(), "sd-nostr-"));
    dirs.push(d);
    loadOrCreateNostrKey(d);
    chmodSync(join(d, "nostr.key"), 0o640);
    expect(() => loadOrCreateNostrKey(d)).toThrow(/chmod 600/);
    writeFileSync(join(d, "nostr.key"), JSON.stringify({ type: "secp256k1", secret: "00".repeat(32), public: "11".repeat(32) }), { mode: 0o600 });
    chmodSync(join(d, "nostr.key"), 0o600);
    expect(() => loadOrCreateNostrKey(d)).toThrow(/not a valid secp256k1 key|does not match/);
  });
});

describe("xOnlyPublicKey", () => {
  it("gives BIP-340's public keys and nostr-tools' for the same secrets, and refuses secrets outside the group", () => {
    // BIP-340 test vectors 0 and 1: secret key, public key.
    const bip340 = [
      ["0000000000000000000000000000000000000000000000000000000000000003", "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"],
      ["b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfef", "dff1d77f2a671c5f36183726db2341be58feae1da2deced843240f7b502ba659"],
    ];
    for (const [secret, pub] of bip340) expect(xOnlyPublicKey(Buffer.from(secret!, "hex")), `BIP-340 secret ${secret}`).toBe(pub);
    for (let i = 0; i < 16; i++) {
      const sk = generateSecretKey();
      expect(xOnlyPublicKey(sk), `secret ${Buffer.from(sk).toString("hex")}`).toBe(getPublicKey(sk));
    }
    expect(() => xOnlyPublicKey(new Uint8Array(32))).toThrow();
    expect(() => xOnlyPublicKey(Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex"))).toThrow();
    expect(() => xOnlyPublicKey(new Uint8Array(31).fill(1))).toThrow(/32 bytes/);
  });
});

describe("binding tag", () => {
  it("verifies for the pubkey it was made for, and not for another", () => {
    const s = signer();
    const tag = bindingTag(s.nodeId, s.nodeSecret, s.key.pubkey);
    expect(verifyBinding({ pubkey: s.key.pubkey, tags: [tag] })).toBe(s.nodeId);
    expect(() => verifyBinding({ pubkey: signer().key.pubkey, tags: [tag] })).toThrow(/does not verify/);
    expect(() => verifyBinding({ pubkey: s.key.pubkey, tags: [] })).toThrow(/expected one/);
    expect(() => verifyBinding({ pubkey: s.key.pubkey, tags: [tag, tag] })).toThrow(/expected one/);
    expect(() => verifyBinding({ pubkey: s.key.pubkey, tags: [["slowdrip", s.nodeId, "zz"]] })).toThrow(/malformed/);
    const flipped = [...tag];
    flipped[2] = (flipped[2]![0] === "0" ? "1" : "0") + flipped[2]!.slice(1);
    expect(() => verifyBinding({ pubkey: s.key.pubkey, tags: [flipped] })).toThrow(/does not verify/);
  });
});

describe("checkEvent", () => {
  it("accepts a node event and names its node", () => {
    const s = signer();
    const e = signNodeEvent({ kind: 1, created_at: 1_700_000_000, tags: [], content: "x" }, s);
    expect(checkEvent(JSON.parse(JSON.stringify(e))).node).toBe(s.nodeId);
  });

  it("remembers verified signatures but still refuses an event changed after it was verified", () => {
    const s = signer();
    const e = JSON.parse(JSON.stringify(signNodeEvent({ kind: 1, created_at: 1_700_000_001, tags: [], content: "x" }, s)));
    checkEvent(e);
    checkEvent(JSON.parse(JSON.stringify(e)));
    expect(() => checkEvent({ ...e, content: "changed" })).toThrow(/does not match/);
    expect(() => checkEvent({ ...e, tags: [["t", "x"]] })).toThrow(/does not match/);
  });

  it("refuses changed content, bad shapes, future times and too many tags", () => {
    const s = signer();
    const e = JSON.parse(JSON.stringify(signNodeEvent({ kind: 1, created_at: 1_700_000_000, tags: [], content: "x" }, s)));
    expect(() => checkEvent({ ...e, content: "y" })).toThrow(/signature/);
    expect(() => checkEvent({ ...e, id: "x" })).toThrow(/bad id/);
    expect(() => checkEvent({ ...e, tags: [[1]] })).toThrow(/bad tag/);
    expect(() => checkEvent(null)).toThrow(/not an object/);
    const future = finalizeEvent({ kind: 1, created_at: Math.floor(Date.now() / 1000) + 3600, tags: [], content: "" }, s.key.secretKey);
    expect(() => checkEvent(future)).toThrow(/future/);
    const many = finalizeEvent({ kind: 1, created_at: 1_700_000_000, tags: Array.from({ length: 11 }, () => ["t", "a"]), content: "" }, s.key.secretKey);
    expect(() => checkEvent(many, { maxTags: 10, maxFieldChars: 100, maxFutureSkew: 600, binding: false })).toThrow(/too many tags/);
    const unbound = finalizeEvent({ kind: 1, created_at: 1_700_000_000, tags: [], content: "" }, s.key.secretKey);
    expect(() => checkEvent(unbound)).toThrow(/slowdrip tag/);
  });
});

describe("TollGate advert", () => {
  it("round-trips through the tag shape and refuses malformed prices", () => {
    const advert = tollgateFromPricing({ ratePerMiB: 5, unit: "sat", mints: ["http://m1", "https://m2/x"] });
    const t = tollgateTemplate(advert, 1);
    expect(t.tags).toEqual([
      ["metric", "bytes"],
      ["step_size", "1048576"],
      ["tips", "1", "2", "3"],
      ["price_per_step", "cashu", "5", "sat", "http://m1", "1"],
      ["price_per_step", "cashu", "5", "sat", "https://m2/x", "1"],
    ]);
    expect(parseTollgate(t)).toEqual(advert);
    expect(() => parseTollgate({ ...t, tags: [...t.tags, ["price_per_step", "cashu", "-1", "sat", "http://m", "1"]] })).toThrow(/malformed/);
    expect(() => parseTollgate({ ...t, tags: t.tags.filter((x) => x[0] !== "metric") })).toThrow(/metric/);
  });

  it("carries the relay as one relay tag beside the TollGate tags", () => {
    const advert = tollgateFromPricing({ ratePerMiB: 5, unit: "sat", mints: ["http://m1"], relay: { endpoint: "http://b:8080/relay", ratePerMiB: 2 } });
    const t = tollgateTemplate(advert, 1);
    expect(t.tags.at(-1)).toEqual(["relay", "http://b:8080/relay", "2", "sat"]);
    expect(parseTollgate(t)).toEqual(advert);
    expect(() => parseTollgate({ ...t, tags: [...t.tags, ["relay", "http://c/relay", "1", "sat"]] })).toThrow(/at most one relay/);
    expect(() => parseTollgate({ ...t, tags: [...t.tags.slice(0, -1), ["relay", "ftp://x", "1", "sat"]] })).toThrow(/malformed relay/);
  });
});
