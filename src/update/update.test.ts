// Update bundle header and slot parsing: signatures, bounds, hostile headers, boot-entry names; apply() against a
// file standing in for the inactive slot's partition (the only fake: a test cannot repartition the host's disk).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { identityFromSecret } from "../identity/identity.ts";
import { hex } from "../identity/hex.ts";
import { HEADER_PREFIX, MAGIC, makeHeader, MAX_MANIFEST, parseManifest, readHeader, UpdateError, verifyManifest } from "./bundle.ts";
import { entryState, optionsFor, parseEntry, parseEntryName, SLOT_PARTUUID, slotFromCmdline } from "./slots.ts";
import { apply, readEntries, status, type System } from "./apply.ts";

const signer = identityFromSecret(new Uint8Array(32).fill(7));
const other = identityFromSecret(new Uint8Array(32).fill(9));
const payload = new Uint8Array(4096).map((_, i) => i % 251);
const sha = createHash("sha256").update(payload).digest("hex");

function header(o: Partial<{ version: string; arch: "x64" | "arm64"; size: number; sha256: string }> = {}, id = signer): Uint8Array {
  return makeHeader({ version: o.version ?? "0.2.0", arch: o.arch ?? "x64", size: o.size ?? payload.length, sha256: o.sha256 ?? sha, secretKey: id.secretKey, publicKey: id.publicKey });
}

describe("bundle header", () => {
  it("round-trips and verifies against a trusted key", () => {
    const h = readHeader(header());
    expect(h).not.toBeNull();
    expect(h!.manifest.version).toBe("0.2.0");
    expect(() => verifyManifest(h!.manifest, { trustedKeys: [signer.nodeId], arch: "x64", slotSize: 1 << 20 })).not.toThrow();
  });

  it("asks for more bytes while the header is incomplete", () => {
    const h = header();
    expect(readHeader(h.subarray(0, 10))).toBeNull();
    expect(readHeader(h.subarray(0, h.length - 1))).toBeNull();
  });

  it("refuses an untrusted key, a forged signature, another arch, an oversized payload and an empty trust list", () => {
    const m = readHeader(header())!.manifest;
    expect(() => verifyManifest(m, { trustedKeys: [other.nodeId], arch: "x64" })).toThrow(/not in update.trusted_keys/);
    expect(() => verifyManifest(m, { trustedKeys: [], arch: "x64" })).toThrow(/trusted_keys is empty/);
    expect(() => verifyManifest({ ...m, version: "9.9.9" }, { trustedKeys: [signer.nodeId], arch: "x64" })).toThrow(/signature is not valid/);
    expect(() => verifyManifest({ ...m, payload_sha256: "0".repeat(64) }, { trustedKeys: [signer.nodeId], arch: "x64" })).toThrow(/signature is not valid/);
    // A key swapped in for a trusted one does not carry the signature over.
    expect(() => verifyManifest({ ...m, key: other.nodeId }, { trustedKeys: [other.nodeId], arch: "x64" })).toThrow(/signature is not valid/);
    expect(() => verifyManifest(m, { trustedKeys: [signer.nodeId], arch: "arm64" })).toThrow(/is for x64/);
    expect(() => verifyManifest(m, { trustedKeys: [signer.nodeId], arch: "x64", slotSize: 100 })).toThrow(/larger than the slot/);
  });

  it("refuses bad magic, oversized or non-JSON manifests and unknown or malformed fields", () => {
    const h = header();
    const bad = h.slice();
    bad[0] = 0x58;
    expect(() => readHeader(bad)).toThrow(/bad magic/);
    const big = h.slice(0, HEADER_PREFIX);
    new DataView(big.buffer).setUint32(MAGIC.length, MAX_MANIFEST + 1);
    expect(() => readHeader(big)).toThrow(/manifest length/);
    const m = JSON.parse(JSON.stringify(readHeader(h)!.manifest)) as Record<string, unknown>;
    expect(() => parseManifest("{")).toThrow(UpdateError);
    expect(() => parseManifest("[]")).toThrow(/not an object/);
    expect(() => parseManifest(JSON.stringify({ ...m, extra: 1 }))).toThrow(/unknown field/);
    expect(() => parseManifest(JSON.stringify({ ...m, format: 2 }))).toThrow(/format/);
    expect(() => parseManifest(JSON.stringify({ ...m, version: "a b" }))).toThrow(/version/);
    expect(() => parseManifest(JSON.stringify({ ...m, payload_size: -1 }))).toThrow(/payload_size/);
    expect(() => parseManifest(JSON.stringify({ ...m, payload_size: 1.5 }))).toThrow(/payload_size/);
    expect(() => parseManifest(JSON.stringify({ ...m, payload_sha256: "AB".repeat(32) }))).toThrow(/payload_sha256/);
    expect(() => parseManifest(JSON.stringify({ ...m, signature: "00" }))).toThrow(/signature/);
  });
});

describe("slots and boot entries", () => {
  it("reads the booted slot from the kernel command line", () => {
    expect(slotFromCmdline("root=PARTUUID=x rw slowdrip.slot=b quiet")).toBe("b");
    expect(slotFromCmdline("slowdrip.slot=a")).toBe("a");
    expect(slotFromCmdline("slowdrip.slot=c")).toBeNull();
    expect(slotFromCmdline("xslowdrip.slot=a")).toBeNull();
  });

  it("parses systemd-boot's boot counting names", () => {
    expect(parseEntryName("slowdrip-a.conf")).toEqual({ slot: "a" });
    expect(parseEntryName("slowdrip-b+1.conf")).toEqual({ slot: "b", triesLeft: 1 });
    expect(parseEntryName("slowdrip-b+0-1.conf")).toEqual({ slot: "b", triesLeft: 0, triesDone: 1 });
    expect(parseEntryName("other.conf")).toBeNull();
    expect(parseEntryName("slowdrip-b+1234.conf")).toBeNull();
    const e = parseEntry("slowdrip-b+0-1.conf", "title SlowDrip 0.2.0 (slot B)\nversion 3\noptions root=PARTUUID=u rw slowdrip.slot=b\n")!;
    expect(e).toMatchObject({ slot: "b", generation: 3, version: "0.2.0", options: "root=PARTUUID=u rw slowdrip.slot=b" });
    expect(entryState(e)).toBe("bad");
    expect(entryState({ ...e, triesLeft: 1 })).toBe("trial");
    expect(entryState({ ...e, triesLeft: undefined })).toBe("good");
  });

  it("derives the other slot's kernel options from the booted one", () => {
    expect(optionsFor("root=PARTUUID=aaa rw console=ttyS0 slowdrip.slot=a", "b", "bbb")).toBe("root=PARTUUID=bbb rw console=ttyS0 slowdrip.slot=b");
  });

  it("names the partitions image/layout.mjs writes", async () => {
    // @ts-expect-error plain JavaScript module of the image build
    const { layout } = (await import("../../image/layout.mjs")) as { layout: (a: string) => { uuid: Record<string, string> } };
    for (const arch of ["x64", "arm64"] as const) {
      expect(SLOT_PARTUUID[arch].a).toBe(layout(arch).uuid.a);
      expect(SLOT_PARTUUID[arch].b).toBe(layout(arch).uuid.b);
    }
  });
});

describe("apply", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** An ESP directory with slot A's entry, and a file standing in for slot B's partition. */
  function fixture(): { sys: System; dir: string; slotB: string } {
    const dir = mkdtempSync(join(tmpdir(), "slowdrip-update-"));
    dirs.push(dir);
    mkdirSync(join(dir, "esp/loader/entries"), { recursive: true });
    writeFileSync(join(dir, "esp/loader/entries/slowdrip-a.conf"), "title SlowDrip 0.1.0 (slot A)\nsort-key slowdrip\nversion 1\noptions root=PARTUUID=a rw slowdrip.slot=a\n");
    writeFileSync(join(dir, "esp/loader/entries/slowdrip-b.conf"), "title SlowDrip 0.0.9 (slot B)\nsort-key slowdrip\nversion 0\noptions root=PARTUUID=b rw slowdrip.slot=b\n");
    const slotB = join(dir, "slot-b");
    writeFileSync(slotB, new Uint8Array(1 << 16));
    const sys: System = { esp: join(dir, "esp"), cmdline: "root=PARTUUID=a rw slowdrip.slot=a", arch: "x64", version: "0.1.0", device: () => slotB, deviceSize: () => 1 << 16, uefi: true };
    return { sys, dir, slotB };
  }

  function bundle(dir: string, body: Uint8Array, h: Uint8Array = header()): string {
    const f = join(dir, "u.bundle");
    writeFileSync(f, Buffer.concat([h, body]));
    return f;
  }

  it("changes nothing for a bundle signed by an untrusted key", async () => {
    const { sys, dir, slotB } = fixture();
    const before = readFileSync(slotB);
    await expect(apply(bundle(dir, payload, header({}, other)), sys, { trustedKeys: [signer.nodeId] })).rejects.toThrow(/not in update.trusted_keys/);
    expect(readFileSync(slotB).equals(before)).toBe(true);
    expect(readdirSync(join(sys.esp, "loader/entries")).sort()).toEqual(["slowdrip-a.conf", "slowdrip-b.conf"]);
  });

  it("refuses, changing nothing, on a system that booted without UEFI (a Raspberry Pi's firmware)", async () => {
    const { sys, dir, slotB } = fixture();
    const before = readFileSync(slotB);
    await expect(apply(bundle(dir, payload), { ...sys, uefi: false }, { trustedKeys: [signer.nodeId] })).rejects.toThrow(/need a UEFI boot.*write the new image to the card/);
    expect(readFileSync(slotB).equals(before)).toBe(true);
    expect(readdirSync(join(sys.esp, "loader/entries")).sort()).toEqual(["slowdrip-a.conf", "slowdrip-b.conf"]);
  });

  it("leaves the next boot alone when the payload does not match its sha256 or length", async () => {
    const { sys, dir } = fixture();
    const tampered = payload.slice();
    tampered[100] = (tampered[100] ?? 0) ^ 1;
    await expect(apply(bundle(dir, tampered), sys, { trustedKeys: [signer.nodeId] })).rejects.toThrow(/sha256 is/);
    // Slot B's old entry is gone (its partition was overwritten), slot A's is untouched: the next boot is slot A.
    expect(readdirSync(join(sys.esp, "loader/entries"))).toEqual(["slowdrip-a.conf"]);
    await expect(apply(bundle(dir, payload.subarray(0, 100)), sys, { trustedKeys: [signer.nodeId] })).rejects.toThrow(/payload is 100 bytes/);
    expect(readdirSync(join(sys.esp, "loader/entries"))).toEqual(["slowdrip-a.conf"]);
    expect(status(sys).last_update).toBeNull();
  });

  it("writes a good bundle to the inactive slot (it fails only at reading the kernel from a file that is no ext4)", async () => {
    const { sys, dir, slotB } = fixture();
    const hasDebugfs = spawnSync("sh", ["-c", "command -v debugfs"]).status === 0;
    // Trailing bytes after the payload (a block device's padding) are not read, let alone written.
    const p = apply(bundle(dir, Buffer.concat([payload, new Uint8Array(1000).fill(0xee)])), sys, { trustedKeys: [signer.nodeId] });
    if (hasDebugfs) await expect(p).rejects.toThrow(/names no kernel|Command failed/);
    else await expect(p).rejects.toThrow();
    expect(readFileSync(slotB).subarray(0, payload.length).equals(Buffer.from(payload))).toBe(true);
    expect(readFileSync(slotB).subarray(payload.length, payload.length + 1000).every((b) => b === 0)).toBe(true);
    expect(readEntries(sys.esp).map((e) => e.file)).toEqual(["slowdrip-a.conf"]);
    expect(hex(signer.publicKey)).toBe(signer.nodeId);
  });
});
