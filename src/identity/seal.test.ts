// Sealed backups: scrypt + XChaCha20-Poly1305 round trip, wrong passphrase and every kind of damage refused; archives
// keep optional identity files and the wallet entry, and are written 0600 whether sealed or not.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackupError, applyBackup, createBackup, readBackup } from "./backup.ts";
import { loadOrCreateIdentity } from "./identity.ts";
import { SEAL_COST, SealError, isSealed, passphraseFromFile, seal, unseal } from "./seal.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "slowdrip-seal-"));
const cheap = { logN: 14, r: 8, p: 1 };

describe("seal", () => {
  it("round trips, and refuses a wrong passphrase or any changed byte", async () => {
    const plain = new TextEncoder().encode("the wallet's proofs");
    const sealed = await seal(plain, "pässwörd", cheap);
    expect(isSealed(sealed)).toBe(true);
    expect(Buffer.from(sealed).includes(Buffer.from("proofs"))).toBe(false);
    expect(Buffer.from(await unseal(sealed, "pässwörd")).toString()).toBe("the wallet's proofs");
    // NFKC: the same passphrase typed with combining characters opens it too.
    expect(Buffer.from(await unseal(sealed, "pa\u0308sswo\u0308rd")).toString()).toBe("the wallet's proofs");
    await expect(unseal(sealed, "passwort")).rejects.toBeInstanceOf(SealError);
    for (const i of [0, 8, 12, 30, sealed.length - 20, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 0x01;
      await expect(unseal(bad, "pässwörd"), `byte ${i}`).rejects.toBeInstanceOf(SealError);
    }
    await expect(unseal(sealed.subarray(0, 40), "pässwörd")).rejects.toThrow(/truncated/);
    // A header asking for more memory than allowed is refused before any work.
    const greedy = Buffer.from(sealed);
    greedy[8] = 30;
    await expect(unseal(greedy, "pässwörd")).rejects.toThrow(/logN 30 outside/);
  });

  it("reads a passphrase file: one trailing newline dropped, empty and oversized refused", () => {
    expect(passphraseFromFile("secret\n")).toBe("secret");
    expect(passphraseFromFile("secret\r\n")).toBe("secret");
    expect(passphraseFromFile("two\nlines\n")).toBe("two\nlines");
    expect(() => passphraseFromFile("\n")).toThrow(/empty/);
    expect(() => passphraseFromFile("x".repeat(1025))).toThrow(/longer than 1024/);
  });
});

describe("backup archives", () => {
  it("keep optional identity files and the wallet entry; sealed ones need the passphrase; both are 0600", async () => {
    const src = tmp();
    loadOrCreateIdentity(src);
    writeFileSync(join(src, "nostr.key"), "nsec-test\n", { mode: 0o600 });
    const wallet = Buffer.from('{"format":"slowdrip-wallet-v1","mints":[],"proofs":[],"ops":[]}\n');
    const out = tmp();
    const plain = await createBackup(src, { output: out, wallet });
    expect(plain.files.sort()).toEqual(["keypair", "nostr.key", "wallet.json"]);
    expect(statSync(plain.path).mode & 0o777).toBe(0o600);
    const sealed = await createBackup(src, { output: out, wallet, passphrase: "p", now: new Date(0) });
    expect(sealed.path).toBe(join(out, "slowdrip-backup-19700101T000000Z.tar.gz.enc"));
    expect(statSync(sealed.path).mode & 0o777).toBe(0o600);
    expect(readFileSync(sealed.path)[8]).toBe(SEAL_COST.logN);
    await expect(readBackup(sealed.path)).rejects.toThrow(/encrypted: give its passphrase/);
    await expect(readBackup(sealed.path, { passphrase: "q" })).rejects.toBeInstanceOf(BackupError);
    for (const b of [await readBackup(plain.path), await readBackup(sealed.path, { passphrase: "p" })]) {
      expect(Buffer.from(b.wallet!).equals(wallet)).toBe(true);
      expect([...b.files.keys()].sort()).toEqual(["keypair", "nostr.key"]);
      const dst = tmp();
      applyBackup(b, dst);
      expect(readFileSync(join(dst, "nostr.key"), "utf8")).toBe("nsec-test\n");
      expect(statSync(join(dst, "nostr.key")).mode & 0o777).toBe(0o600);
    }
    // Without the optional files or a wallet, the archive simply lacks them.
    const bare = tmp();
    loadOrCreateIdentity(bare);
    const b = await readBackup((await createBackup(bare, { output: tmp() })).path);
    expect([...b.files.keys()]).toEqual(["keypair"]);
    expect(b.wallet).toBeUndefined();
  });
});
