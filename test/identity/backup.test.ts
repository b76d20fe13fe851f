// `slowdrip backup` / `restore` with the wallet: real nodes, real CLI, a real nutshell mint. The archive carries spendable
// value; a damaged archive or a wrong passphrase changes nothing; restore refuses a running node and a non-empty wallet
// unless --merge, which leaves out what the mint reports spent.
import { createHash } from "node:crypto";
import { lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { runCli, spawnNode, tempDir } from "../helpers/node.ts";
import { tempWallet, type TempDb } from "../pay/helpers.ts";

let mints: TestMint[] = [];
let A = "";
const children: ChildProcess[] = [];
const dbs: TempDb[] = [];

interface Running {
  child: ChildProcess;
  url: string;
  token: string;
  cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function start(dir: string): Promise<Running> {
  const n = await spawnNode(["--data-dir", dir, "--listen", "127.0.0.1:0"], { SLOWDRIP_PAY_ENABLED: "true", SLOWDRIP_PAY_TRUSTED_MINTS: A });
  children.push(n.child);
  const token = readFileSync(join(dir, "admin.token"), "utf8").trim();
  return { child: n.child, url: n.url, token, cli: (...args) => runCli([...args, "--url", n.adminUrl, "--token", token]) };
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  await exited;
}

async function balance(n: Running): Promise<number> {
  const r = await n.cli("wallet", "mints", "--json");
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Array<{ mint: string; balance: number }>).find((m) => m.mint === A)?.balance ?? 0;
}

async function pending(n: Running): Promise<Array<{ opId: string; amount: number; token: string }>> {
  return JSON.parse((await n.cli("wallet", "pending", "--json")).stdout);
}

/**
 * Every file under `dir` with its mode and content hash: equal snapshots mean nothing changed. LMDB's lock.mdb (its
 * reader table, rewritten by every open) is left out.
 */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (name !== "lock.mdb") out[p.slice(dir.length + 1)] = `${(st.mode & 0o777).toString(8)} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
    }
  };
  walk(dir);
  return out;
}

function passphraseFile(text: string): string {
  const p = join(tempDir(), "pass");
  writeFileSync(p, `${text}\n`, { mode: 0o600 });
  return p;
}

// The first run on a machine installs nutshell into the cache (pip): allow minutes, not the default hook timeout.
beforeAll(async () => {
  mints = await startMints(1);
  A = mints[0]!.url;
}, 300_000);

afterAll(async () => {
  for (const c of children) await stop(c);
  for (const d of dbs) await d.close();
  await stopMints(mints);
});

describe("backup and restore hold the money (real mint)", () => {
  it("an encrypted backup made while the node runs restores spendable value, open tokens and the identity; a plain one warns", async () => {
    const src = tempDir();
    const n1 = await start(src);
    expect((await n1.cli("wallet", "mint", "100", "--mint", A)).code).toBe(0);
    const sent = (await n1.cli("wallet", "send", "7", "--mint", A)).stdout.trim();
    expect(sent.startsWith("cashuB")).toBe(true);
    const pass = passphraseFile("correct horse battery staple");
    const out = tempDir();
    const b = await runCli(["backup", "--data-dir", src, "--output", out, "--passphrase-file", pass]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toBe("");
    expect(b.stdout).toContain("wallet: 93 sat spendable in");
    expect(b.stdout).toContain("1 unclaimed sent tokens");
    const archive = b.stdout.split("\n")[0]!;
    expect(archive).toMatch(/slowdrip-backup-\d{8}T\d{6}Z\.tar\.gz\.enc$/);
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(archive);
    expect(bytes.subarray(0, 8).toString()).toBe("SDBKENC1");
    // Sealed: neither the key nor a proof secret is in the clear, even after gunzip attempts.
    expect(bytes.includes(Buffer.from("secret"))).toBe(false);

    const plain = await runCli(["backup", "--data-dir", src, "--output", join(out, "plain.tar.gz")]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/warning: .*plain\.tar\.gz is not encrypted: .*ecash, which is bearer money/);
    expect(statSync(join(out, "plain.tar.gz")).mode & 0o777).toBe(0o600);

    const dst = tempDir();
    const noPass = await runCli(["restore", archive, "--data-dir", dst, "--yes"]);
    expect(noPass.code).not.toBe(0);
    expect(noPass.stderr).toMatch(/encrypted: give its passphrase with --passphrase-file/);
    const r = await runCli(["restore", archive, "--data-dir", dst, "--passphrase-file", pass, "--yes"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("restored wallet: 93 sat spendable in");
    expect(readFileSync(join(dst, "keypair"), "utf8")).toBe(readFileSync(join(src, "keypair"), "utf8"));
    expect(statSync(join(dst, "db")).mode & 0o777).toBe(0o700);

    await stop(n1.child);
    const n2 = await start(dst);
    expect(await balance(n2)).toBe(93);
    // Real value: the mint reports every restored proof unspent, and it pays someone else.
    const check = await n2.cli("wallet", "balance", "--check");
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).not.toMatch(/dropped/);
    expect(await balance(n2)).toBe(93);
    const { wallet: bob, db } = await tempWallet([A]);
    dbs.push(db);
    const t = (await n2.cli("wallet", "send", "20", "--mint", A)).stdout.trim();
    expect((await bob.receive(t)).credited).toBe(20);
    // The sent-but-unclaimed token came along, and can still be taken back.
    const open = (await pending(n2)).find((p) => p.token === sent);
    expect(open).toMatchObject({ amount: 7 });
    const back = await n2.cli("wallet", "reclaim", open!.opId);
    expect(back.stdout).toContain("reclaimed 7 sat");
    expect(await balance(n2)).toBe(93 - 20 + 7);
    await stop(n2.child);
    // Many CLI processes and scrypt derivations (about a second each): minutes on a loaded machine.
  }, 300_000);

  it("a damaged archive or a wrong passphrase changes nothing; a running node and a non-empty wallet are refused; --merge leaves out spent proofs", async () => {
    const src = tempDir();
    const n1 = await start(src);
    expect((await n1.cli("wallet", "mint", "100", "--mint", A)).code).toBe(0);
    const pass = passphraseFile("pässwörd");
    const out = tempDir();
    const archive = (await runCli(["backup", "--data-dir", src, "--output", out, "--passphrase-file", pass])).stdout.split("\n")[0]!;
    // After the backup, the node spends part of what the archive holds.
    const { wallet: bob, db } = await tempWallet([A]);
    dbs.push(db);
    expect((await bob.receive((await n1.cli("wallet", "send", "40", "--mint", A)).stdout.trim())).credited).toBe(40);

    // A running node owns its data dir: restore refuses and changes nothing.
    const running = await runCli(["restore", archive, "--data-dir", src, "--passphrase-file", pass, "--yes", "--merge"]);
    expect(running.code).toBe(1);
    expect(running.stderr).toMatch(/a node \(process \d+\) is running on .*; stop it first/);
    await stop(n1.child);

    // The target: another node's data dir with its own identity and 10 sat.
    const dst = tempDir();
    const n3 = await start(dst);
    expect((await n3.cli("wallet", "mint", "10", "--mint", A)).code).toBe(0);
    await stop(n3.child);
    const before = fingerprint(dst);

    const flipped = join(out, "flipped.tar.gz.enc");
    const bytes = readFileSync(archive);
    bytes[bytes.length - 40]! ^= 0x01;
    writeFileSync(flipped, bytes);
    const truncated = join(out, "truncated.tar.gz.enc");
    writeFileSync(truncated, readFileSync(archive).subarray(0, 100));
    const wrong = passphraseFile("password");
    for (const [file, pf] of [[flipped, pass], [truncated, pass], [archive, wrong]] as const) {
      const r = await runCli(["restore", file, "--data-dir", dst, "--passphrase-file", pf, "--yes", "--merge"]);
      expect(r.code, `${file}: ${r.stdout}`).toBe(1);
      expect(r.stderr).toMatch(/wrong passphrase, or the encrypted archive is damaged|truncated/);
      expect(fingerprint(dst), file).toEqual(before);
    }
    const empty = passphraseFile("");
    writeFileSync(empty, "");
    expect((await runCli(["restore", archive, "--data-dir", dst, "--passphrase-file", empty, "--yes"])).stderr).toMatch(/passphrase file is empty/);

    // A wallet that holds value is not overwritten.
    const refused = await runCli(["restore", archive, "--data-dir", dst, "--passphrase-file", pass, "--yes"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not empty; restore with --merge/);
    expect(fingerprint(dst)).toEqual(before);

    // --merge adds what is still unspent at the mint (NUT-07) and leaves out what the node spent after the backup.
    const merged = await runCli(["restore", archive, "--data-dir", dst, "--passphrase-file", pass, "--yes", "--merge"]);
    expect(merged.code, merged.stderr).toBe(0);
    const m = /merged wallet: (\d+) sat spendable in \d+ proofs, \d+ operations; left out (\d+) sat the mints report spent/.exec(merged.stdout);
    expect(m, merged.stdout).not.toBeNull();
    const [added, dropped] = [Number(m![1]), Number(m![2])];
    expect(added + dropped).toBe(100);
    expect(dropped).toBeGreaterThanOrEqual(40);
    const n4 = await start(dst);
    expect(await balance(n4)).toBe(10 + added);
    const check = await n4.cli("wallet", "balance", "--check");
    expect(check.stderr).not.toMatch(/dropped/);
    expect(await balance(n4)).toBe(10 + added);
    await stop(n4.child);
    // Merging the same archive again adds nothing.
    const again = await runCli(["restore", archive, "--data-dir", dst, "--passphrase-file", pass, "--yes", "--merge"]);
    expect(again.stdout).toMatch(/merged wallet: 0 sat spendable in 0 proofs/);
  }, 300_000);
});
