// Identity: keypair creation and checks, did:key, admin token, backup/restore round trip, damaged archives refused.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { applyBackup, createBackup, readBackup, BackupError } from "./backup.ts";
import { base58btc, didKey, publicKeyFromDidKey, publicKeyOf, sign, unbase58btc, verify } from "./ed25519.ts";
import { IdentityError, loadOrCreateAdminToken, loadOrCreateIdentity, readIdentity } from "./identity.ts";
import { unhex } from "./hex.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "slowdrip-id-"));

describe("keypair", () => {
  it("is created once with mode 0600 and reloaded with the same id", () => {
    const d = tmp();
    const a = loadOrCreateIdentity(d);
    expect(a.created).toBe(true);
    expect(statSync(join(d, "keypair")).mode & 0o777).toBe(0o600);
    expect(a.identity.nodeId).toMatch(/^[0-9a-f]{64}$/);
    const b = loadOrCreateIdentity(d);
    expect(b.created).toBe(false);
    expect(b.identity.nodeId).toBe(a.identity.nodeId);
    const msg = new TextEncoder().encode("hello");
    expect(verify(sign(msg, b.identity.secretKey), msg, a.identity.publicKey)).toBe(true);
  });
  it("refuses a group-readable or inconsistent keypair", () => {
    const d = tmp();
    loadOrCreateIdentity(d);
    chmodSync(join(d, "keypair"), 0o644);
    expect(() => loadOrCreateIdentity(d)).toThrow(/must not be readable by group or others/);
    chmodSync(join(d, "keypair"), 0o600);
    const doc = JSON.parse(readFileSync(join(d, "keypair"), "utf8"));
    doc.public = "00".repeat(32);
    writeFileSync(join(d, "keypair"), JSON.stringify(doc), { mode: 0o600 });
    expect(() => readIdentity(d)).toThrow(IdentityError);
    expect(() => readIdentity(d)).toThrow(/does not match/);
  });
  it("did:key uses the ed25519-pub multicodec and base58btc", () => {
    // The example DID of the did:key method specification and the raw public key it encodes.
    const pub = unhex("2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6");
    expect(didKey(pub)).toBe("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
    expect(base58btc(new Uint8Array([0, 0, 1]))).toBe("112");
  });

  it("decodes a did:key back to its public key and refuses other DIDs", () => {
    const pub = unhex("2e6fcce36701dc791488e0d0b1745cc1e33a4c1c9fcc41c63bd343dbbe0970e6");
    expect(publicKeyFromDidKey("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")).toEqual(pub);
    expect(unbase58btc("112")).toEqual(new Uint8Array([0, 0, 1]));
    expect(() => publicKeyFromDidKey("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0")).toThrow(/base58/);
    expect(() => publicKeyFromDidKey("did:web:example.com")).toThrow(/did:key/);
    expect(() => publicKeyFromDidKey(`did:key:z${base58btc(new Uint8Array([0xe7, 0x01, ...pub]))}`)).toThrow(/Ed25519/);
  });
});

describe("admin token", () => {
  it("is 64 hex chars, mode 0600, stable across loads", () => {
    const d = tmp();
    const t = loadOrCreateAdminToken(d);
    expect(t).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(d, "admin.token")).mode & 0o777).toBe(0o600);
    expect(loadOrCreateAdminToken(d)).toBe(t);
  });
});

describe("backup and restore", () => {
  it("round trip keeps the node id and token", async () => {
    const src = tmp();
    const { identity } = loadOrCreateIdentity(src);
    const token = loadOrCreateAdminToken(src);
    const out = tmp();
    const { path } = await createBackup(src, { output: out, now: new Date("2026-11-21T10:20:30.456Z") });
    expect(path).toBe(join(out, "slowdrip-backup-20261121T102030Z.tar.gz"));
    const dst = tmp();
    loadOrCreateIdentity(dst); // a different identity gets overwritten
    applyBackup(await readBackup(path), dst);
    expect(readIdentity(dst).nodeId).toBe(identity.nodeId);
    expect(loadOrCreateAdminToken(dst)).toBe(token);
    expect(statSync(join(dst, "keypair")).mode & 0o777).toBe(0o600);
  });

  async function damaged(mutate: (gz: Buffer) => Buffer): Promise<unknown> {
    const src = tmp();
    loadOrCreateIdentity(src);
    const { path } = await createBackup(src, { output: tmp() });
    writeFileSync(path, mutate(readFileSync(path)));
    try {
      await readBackup(path);
    } catch (err) {
      return err;
    }
    return undefined;
  }
  const flipInTar = (gz: Buffer, find: string) => {
    const tar = gunzipSync(gz);
    const i = tar.indexOf(find);
    if (i < 0) throw new Error(`${find} not in archive`);
    tar[i + find.length + 2]! ^= 0x01;
    return gzipSync(tar);
  };
  it.each([
    ["truncated", (gz: Buffer) => gz.subarray(0, gz.length >> 1)],
    ["flipped gzip byte", (gz: Buffer) => { const c = Buffer.from(gz); c[c.length - 12]! ^= 0xff; return c; }],
    ["garbage", () => Buffer.from("not an archive at all")],
    ["keypair content changed (checksum)", (gz: Buffer) => flipInTar(gz, '"secret":"')],
  ])("refuses a damaged archive: %s", async (_name, mutate) => {
    const err = await damaged(mutate);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as Error).message).toMatch(/damaged archive|not a slowdrip backup/);
  });
  it("a refused archive changes nothing in the data dir", async () => {
    const d = tmp();
    const before = loadOrCreateIdentity(d).identity.nodeId;
    const bad = join(tmp(), "bad.tar.gz");
    writeFileSync(bad, "garbage");
    await expect(readBackup(bad)).rejects.toThrow(BackupError);
    expect(readIdentity(d).nodeId).toBe(before);
    expect(readdirSync(d).sort()).toEqual(["keypair"]);
    expect(existsSync(join(d, "admin.token"))).toBe(false);
  });
});

describe("ed25519", () => {
  it("node:crypto signs the same bytes as @noble/ed25519, and each verifies the other's signatures", async () => {
    const ed = await import("@noble/ed25519");
    const { randomBytes } = await import("node:crypto");
    for (let i = 0; i < 32; i++) {
      const secret = new Uint8Array(randomBytes(32));
      const pub = ed.getPublicKey(secret);
      const msg = new Uint8Array(randomBytes(i * 37));
      const sig = sign(msg, secret);
      expect(Buffer.from(sig).equals(Buffer.from(ed.sign(msg, secret)))).toBe(true);
      expect(verify(sig, msg, pub)).toBe(true);
      const bad = sig.slice();
      bad[i % 64]! ^= 1;
      expect(verify(bad, msg, pub)).toBe(false);
      expect(ed.verify(bad, msg, pub)).toBe(false);
      if (msg.length) {
        const other = msg.slice();
        other[0]! ^= 0x80;
        expect(verify(sig, other, pub)).toBe(false);
      }
    }
  });
  it("publicKeyOf (node:crypto) derives RFC 8032's public keys and the same keys as @noble/ed25519", async () => {
    // RFC 8032 section 7.1, TEST 1, TEST 2 and TEST 3: SECRET KEY, PUBLIC KEY.
    const rfc = [
      ["9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
      ["4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"],
      ["c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"],
    ];
    for (const [secret, pub] of rfc) expect(Buffer.from(publicKeyOf(Buffer.from(secret!, "hex"))).toString("hex"), `RFC 8032 secret ${secret}`).toBe(pub);
    const ed = await import("@noble/ed25519");
    const { randomBytes } = await import("node:crypto");
    for (let i = 0; i < 16; i++) {
      const secret = new Uint8Array(randomBytes(32));
      expect(Buffer.from(publicKeyOf(secret)).equals(Buffer.from(ed.getPublicKey(secret))), `secret ${Buffer.from(secret).toString("hex")}`).toBe(true);
    }
    expect(() => publicKeyOf(new Uint8Array(31))).toThrow();
  });
  it("a reused secret buffer with new contents signs with the new key", () => {
    const secret = new Uint8Array(32).fill(1);
    const msg = new TextEncoder().encode("m");
    const a = sign(msg, secret);
    secret.fill(2);
    const b = sign(msg, secret);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });
  it("malformed keys and signatures are false, not thrown", () => {
    const msg = new Uint8Array(4);
    expect(verify(new Uint8Array(64), msg, new Uint8Array(32))).toBe(false);
    expect(verify(new Uint8Array(63), msg, new Uint8Array(32))).toBe(false);
    expect(verify(new Uint8Array(64).fill(0xff), msg, new Uint8Array(32).fill(0xff))).toBe(false);
  });
});
