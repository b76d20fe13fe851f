// The x64 appliance image end to end: `npm run image` builds it, qemu boots it (2 vCPUs, OVMF, user networking with
// restrict=on), and the node in it serves /readyz, runs MediaMTX, takes an RTMP publish from the host whose segments
// `slowdrip stream verify` accepts, and first boot did its work. Runs alone: a TCG guest needs both cores.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureFfmpeg, rtmpPublishArgs, runFfmpeg } from "../media/peers.ts";
import { freePorts, get, sha256s, Vm, type Forwards } from "./vm.ts";

const root = resolve(import.meta.dirname, "../..");
const out = join(root, "build/image-test");
const work = join(root, "build/image-test/vm");
const cli = join(root, "dist/slowdrip.mjs");
let image = "";
let build: { seconds: { total: number; rootfs: number }; rootfsCached: boolean; sizes: { compressed: number }; version: string } | undefined;
let vm: Vm | undefined;
let ports: Forwards;
let readyMs = 0;
let kernelReadyMs = 0;
let releaseKey = "";
const bundles = { good: "", broken: "" };

/** A copy of the built root slot changed with debugfs (no mount): `cmds` are debugfs commands. */
function rootVariant(name: string, cmds: string[], files: Record<string, string>): string {
  const img = join(out, `${name}.root.img`);
  const cp = spawnSync("cp", ["--sparse=always", join(out, `slowdrip-${build!.version}-x64.root.img`), img]);
  expect(cp.status).toBe(0);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(out, f), text, { mode: 0o755 });
  writeFileSync(join(out, `${name}.debugfs`), `${cmds.join("\n")}\n`);
  const r = spawnSync("debugfs", ["-w", "-f", join(out, `${name}.debugfs`), img], { cwd: out, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return img;
}

/** An update bundle of `img`, signed by the release key. */
function sign(img: string, version: string, outFile: string): string {
  const r = spawnSync(process.execPath, [cli, "update", "sign", "--key", join(out, "release-key/keypair"), "--root", img, "--version", version, "--arch", "x64", "--output", outFile], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return outFile;
}

function log(s: string): void {
  process.stderr.write(`[image] ${s}\n`);
}

beforeAll(async () => {
  // The test image is the product image plus a root shell on the second serial port (--debug-shell), the test's
  // channel into the guest (systemd-analyze, tokens, journal).
  const r = spawnSync("npm", ["run", "--silent", "image", "--", "--arch", "x64", "--raw", "--debug-shell", "--out", out], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 });
  expect(r.status, "npm run image failed").toBe(0);
  build = JSON.parse(r.stdout.trim().split("\n").pop()!);
  log(`build: ${build!.seconds.total.toFixed(0)} s (root fs ${build!.rootfsCached ? "cached" : `${build!.seconds.rootfs.toFixed(0)} s`}), ${(build!.sizes.compressed / 1048576).toFixed(0)} MiB compressed`);
  image = join(out, `slowdrip-${build!.version}-x64.img`);
  // Two updates made from the built root slot: a good one (another version string) and a broken one whose node
  // exits at once. They reach the guest as read-only disks (/dev/vdb, /dev/vdc): restrict=on lets it reach nothing.
  rmSync(join(out, "release-key"), { recursive: true, force: true });
  const kg = spawnSync(process.execPath, [cli, "keygen", "--output", join(out, "release-key")], { encoding: "utf8" });
  expect(kg.status, kg.stderr).toBe(0);
  releaseKey = kg.stdout.trim();
  const setVersion = (v: string) => ["rm /usr/lib/slowdrip-image/version", `write ${v}.version /usr/lib/slowdrip-image/version`];
  bundles.good = sign(rootVariant("good", setVersion("good"), { "good.version": `${build!.version}+good\n` }), `${build!.version}+good`, join(out, "good.update"));
  bundles.broken = sign(rootVariant("broken", [...setVersion("broken"), "rm /usr/local/libexec/slowdrip-node", "write broken.sh /usr/local/libexec/slowdrip-node", "sif /usr/local/libexec/slowdrip-node mode 0100755"],
    { "broken.version": `${build!.version}+broken\n`, "broken.sh": "#!/bin/sh\necho 'broken update: the node exits at start' >&2\nexit 1\n" }), `${build!.version}+broken`, join(out, "broken.update"));
  const [http, admin, rtmp] = await freePorts(3);
  ports = { http: http!, admin: admin!, rtmp: rtmp! };
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  vm = await Vm.boot({ image, dir: work, drives: [bundles.good, bundles.broken] }, ports, log);
  readyMs = await vm!.waitHttp("/readyz", vm.startedAt, 600_000);
  const readyAt = Date.now();
  // The same moment on the guest's clock, from the kernel's start: the guest's uptime read now, less the time since
  // /readyz answered (taken before the command is sent, so the figure errs high, never low).
  await vm!.sh("true");
  const asked = Date.now();
  const uptimeMs = Number((await vm!.sh("cut -d' ' -f1 /proc/uptime")).out.trim()) * 1000;
  kernelReadyMs = uptimeMs - (asked - readyAt);
  log(`/readyz green ${(readyMs / 1000).toFixed(1)} s after qemu started (${vm.accel}), ${(kernelReadyMs / 1000).toFixed(1)} s after the kernel's start (the rest is OVMF and systemd-boot)`);
}, 40 * 60_000);

afterAll(async () => {
  await vm?.kill();
});

describe("x64 image", () => {
  it("is built into a compressed plain file with its sha256 and a package manifest", () => {
    const zst = `${image}.zst`;
    expect(existsSync(zst)).toBe(true);
    expect(build!.sizes.compressed).toBeLessThanOrEqual(400 * 1024 * 1024);
    const { recorded, actual } = sha256s(zst);
    expect(recorded).toBe(actual);
    const manifest = readFileSync(join(out, `slowdrip-${build!.version}-x64.manifest.tsv`), "utf8");
    expect(manifest).toMatch(/^slowdrip\t/m);
    expect(manifest).toMatch(/^mediamtx\tv\d/m);
    expect(manifest).toMatch(/^systemd\t257\./m);
    expect(manifest).toMatch(/^linux-image-amd64\t/m);
    expect(manifest).not.toMatch(/^openssh-server\t/m);
  });

  it("serves /readyz on the public listener (0.0.0.0:8080) within 90 s of the kernel's start", async () => {
    // Measured on the guest's clock from the kernel's start: under TCG the emulated UEFI firmware (OVMF) alone takes
    // 10-15 s before systemd-boot, which a real machine's firmware does in a few; both figures are printed above.
    // Under TCG this depends on the host's load. SLOWDRIP_TEST_IMAGE_READY_MS raises the bound on a machine shared with
    // other work; CI keeps the issue's 90 s.
    log(`load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
    expect(readyMs).toBeGreaterThan(kernelReadyMs);
    expect(kernelReadyMs).toBeGreaterThan(0);
    expect(kernelReadyMs).toBeLessThanOrEqual(Number(process.env.SLOWDRIP_TEST_IMAGE_READY_MS ?? 90_000));
    const r = await get(`http://127.0.0.1:${ports.http}/healthz`);
    expect(r?.status).toBe(200);
    const listen = await vm!.sh("ss -Hltn 'sport = :8080' | awk '{print $4}'");
    expect(listen.out.trim()).toBe("0.0.0.0:8080");
  }, 120_000);

  it("did its first boot: identity, hostname, grown data partition, admin certificate on the boot partition", async () => {
    const id = (await vm!.sh("cat /var/lib/slowdrip/node_id")).out.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await vm!.sh("hostname")).out.trim()).toBe(`slowdrip-${id.slice(0, 8)}`);
    expect((await vm!.sh("stat -c '%U %a' /var/lib/slowdrip/keypair /var/lib/slowdrip/admin.token")).out.trim().split("\n")).toEqual(["slowdrip 600", "slowdrip 600"]);
    // The overlay presents 6 GiB; the image is ~3 GiB, so a grown data partition is well over 2 GiB.
    const size = Number((await vm!.sh("df -B1 --output=size /var/lib/slowdrip | tail -n 1")).out.trim());
    expect(size).toBeGreaterThan(2.5 * 1024 ** 3);
    const fp = (await vm!.sh("openssl x509 -in /var/lib/slowdrip/tls/admin.crt -noout -fingerprint -sha256 | sed 's/.*=//'")).out.trim();
    expect(fp).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    await vm!.waitConsole(/slowdrip: admin certificate SHA-256 fingerprint: /, 120_000);
    const text = vm!.consoleText();
    expect(text).toContain(`slowdrip: SlowDrip node ${id}`);
    expect(text).toContain("slowdrip: admin token: /var/lib/slowdrip/admin.token");
    expect(text).toContain(fp);
    const admin = (await vm!.sh("cat /boot/firmware/slowdrip-admin.txt")).out;
    expect(admin).toContain(fp);
    expect(admin).toContain("/var/lib/slowdrip/admin.token");
    // The admin listener answers HTTPS on the LAN with that certificate, and control calls need the token.
    const token = (await vm!.sh("cat /var/lib/slowdrip/admin.token")).out.trim();
    const url = `https://127.0.0.1:${ports.admin}`;
    const ok = spawnSync(process.execPath, [cli, "status", "--json", "--url", url, "--fingerprint", fp, "--token", token], { encoding: "utf8", timeout: 60_000 });
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).node_id ?? JSON.parse(ok.stdout).nodeId).toBe(id);
    const metrics = await fetch(`${url}/metrics`).catch((e: Error) => e);
    expect(metrics).toBeInstanceOf(Error); // self-signed: refused without the pin
  }, 300_000);

  it("runs the node as the appliance build, under Node's permission model, and it drops rights after start-up", async () => {
    const pid = (await vm!.sh("systemctl show -p MainPID --value slowdrip.service")).out.trim();
    expect(pid).toMatch(/^[1-9][0-9]*$/);
    expect((await vm!.sh(`readlink /proc/${pid}/exe`)).out.trim()).toBe("/usr/local/libexec/slowdrip-node");
    const journal = (await vm!.sh("journalctl -b -u slowdrip.service -o cat --no-pager | grep -c 'permissions dropped after start-up'")).out.trim();
    expect(Number(journal)).toBeGreaterThanOrEqual(1);
    // The CLI is the default build: the same command the unit runs, but as root, and it may write where it is told.
    expect((await vm!.sh("cmp -s /usr/local/bin/slowdrip /usr/local/libexec/slowdrip-node; echo $?")).out.trim()).toBe("1");
    // The appliance build refuses, in one line, a data dir it was not built for, whatever NODE_OPTIONS says.
    const refused = await vm!.sh("NODE_OPTIONS=--no-permission /usr/local/libexec/slowdrip-node run --data-dir /root/elsewhere 2>&1; echo rc=$?");
    expect(refused.out).toMatch(/permission model[\s\S]*rc=1/);
    expect((await vm!.sh("test -e /root/elsewhere; echo $?")).out.trim()).toBe("1");
  }, 300_000);

  it("runs MediaMTX and turns an RTMP publish from the host into segments that stream verify accepts", async () => {
    expect((await vm!.sh("systemctl is-active slowdrip-mediamtx.service")).out.trim()).toBe("active");
    const id = (await vm!.sh("cat /var/lib/slowdrip/node_id")).out.trim();
    const tok = await vm!.sh("slowdrip token issue --action publish --path live/cam --ttl 1h --data-dir /var/lib/slowdrip");
    expect(tok.code, tok.out).toBe(0);
    const ffmpeg = ensureFfmpeg();
    const pub = runFfmpeg(rtmpPublishArgs(`rtmp://127.0.0.1:${ports.rtmp}/live/cam?token=${tok.out.trim()}`), ffmpeg);
    try {
      const base = `http://127.0.0.1:${ports.http}/live/live/cam/`;
      const end = Date.now() + 240_000;
      let verified: { status: number | null; stdout: string; stderr: string } | undefined;
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 5_000));
        const v = spawnSync(process.execPath, [cli, "stream", "verify", base, "--creator", id, "--segments", "2", "--json"], { encoding: "utf8", timeout: 60_000 });
        verified = v;
        if (v.status === 0) break;
      }
      expect(verified?.status, `${verified?.stdout}\n${verified?.stderr}`).toBe(0);
    } finally {
      await pub.stop();
    }
  }, 600_000);

  it("reads the units' systemd-analyze security scores inside the VM", async () => {
    const scores: Record<string, number> = {};
    for (const unit of ["slowdrip.service", "slowdrip-mediamtx.service"]) {
      const r = await vm!.sh(`systemd-analyze security --no-pager ${unit} | tail -n 1`);
      const m = r.out.match(/Overall exposure level for \S+: (\d+\.\d)/);
      expect(m, r.out).not.toBeNull();
      scores[unit] = Number(m![1]);
    }
    log(`systemd-analyze security in the VM: ${JSON.stringify(scores)}`);
    // The units as they are in systemd/ score 1.2 / 1.1 offline (test/systemd.test.ts requires <= 2.5 there); the
    // issue's goal for the booted image is <= 2.0.
    expect(scores["slowdrip.service"]).toBeLessThanOrEqual(2.0);
    expect(scores["slowdrip-mediamtx.service"]).toBeLessThanOrEqual(2.0);
  }, 300_000);
});

describe("x64 image updates", () => {
  // health_timeout 3m: a good node under TCG is ready well within it. The broken update's gate does not wait it out:
  // its node exits at every start, and the third restart fails the trial at once.
  const cfg = (keys: string[]) => `update:\n  trusted_keys: [${keys.map((k) => `"${k}"`).join(", ")}]\n  health_timeout: 3m\n`;
  /** Puts a config on the boot partition and has the image install it, as the next boot would. */
  async function bootConfig(text: string): Promise<void> {
    await vm!.sh(`cat > /boot/firmware/slowdrip.yaml <<'EOF'\n${text}EOF\nsystemctl restart slowdrip-bootconfig.service`);
  }
  async function updateStatus(): Promise<{ booted_slot: string; booted_version: string; slots: { slot: string; version: string | null; state: string }[]; last_result: string | null }> {
    const r = await vm!.sh("slowdrip update status --json");
    expect(r.code, r.out).toBe(0);
    return JSON.parse(r.out.trim().split("\n").pop()!);
  }
  /**
   * Runs `slowdrip update apply DEV` in the guest's background and logs its progress (MB written to the system disk,
   * dirty page cache, load) every 15 s until it ends: a slow apply then shows where it stands.
   */
  async function applyUpdate(dev: string): Promise<{ code: number; out: string }> {
    const written = async () => Number((await vm!.sh("awk '{print $7}' /sys/block/vda/stat")).out.trim()) * 512;
    const start = await written();
    await vm!.sh(`rm -f /run/apply.log /run/apply.rc; (slowdrip update apply ${dev} > /run/apply.log 2>&1; echo $? > /run/apply.rc) > /dev/null 2>&1 &`);
    const end = Date.now() + 20 * 60_000;
    for (;;) {
      await new Promise((res) => setTimeout(res, 15_000));
      const rc = (await vm!.sh("cat /run/apply.rc 2>/dev/null")).out.trim();
      if (rc !== "") return { code: Number(rc), out: (await vm!.sh("cat /run/apply.log")).out };
      const mem = (await vm!.sh("grep -E '^(Dirty|Writeback):' /proc/meminfo | tr -s ' ' | tr '\\n' ' '; cut -d' ' -f1-3 /proc/loadavg")).out.trim();
      log(`apply ${dev}: ${((await written()) - start) / 1e6 | 0} MB written to vda; ${mem}`);
      if (Date.now() > end) throw new Error(`update apply ${dev} still running after 20 min: ${(await vm!.sh("cat /run/apply.log")).out}`);
    }
  }
  /** Reboots and waits for /readyz of a new boot (the old system may still answer while it goes down). */
  async function rebootToReady(): Promise<number> {
    const bootId = async () => (await vm!.sh("cat /proc/sys/kernel/random/boot_id")).out.trim();
    const before = await bootId();
    const t0 = Date.now();
    await vm!.reboot();
    for (;;) {
      await vm!.waitHttp("/readyz", t0, 20 * 60_000);
      if ((await bootId()) !== before) return Date.now() - t0;
      await new Promise((r) => setTimeout(r, 5_000));
    }
  }

  it("keeps a bad config from the boot partition out and says why", async () => {
    const before = (await vm!.sh("sha256sum < /etc/slowdrip/slowdrip.yaml")).out;
    await bootConfig("api:\n  max_connections_per_ip: -5\n");
    expect((await vm!.sh("sha256sum < /etc/slowdrip/slowdrip.yaml")).out).toBe(before);
    expect((await vm!.sh("cat /boot/firmware/slowdrip-config-error.txt")).out).toMatch(/NOT installed[\s\S]*max_connections_per_ip/);
  }, 300_000);

  it("refuses a bundle signed by a key not in update.trusted_keys, changing nothing", async () => {
    await bootConfig(cfg(["0".repeat(64)]));
    expect((await vm!.sh("test -e /boot/firmware/slowdrip-config-error.txt; echo $?")).out.trim()).toBe("1");
    const entries = (await vm!.sh("ls /efi/loader/entries")).out;
    const r = await vm!.sh("slowdrip update apply /dev/vdb");
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/not in update.trusted_keys/);
    expect((await vm!.sh("ls /efi/loader/entries")).out).toBe(entries);
    expect((await updateStatus()).last_result).toBeNull();
  }, 300_000);

  it("applies a good update to slot B, boots it on trial (even after a power cut right after the apply) and marks it good once /readyz is green", async () => {
    await bootConfig(cfg([releaseKey]));
    const r = await applyUpdate("/dev/vdb");
    expect(r.code, r.out).toBe(0);
    const st = await updateStatus();
    expect(st.booted_slot).toBe("a");
    expect(st.slots.find((s) => s.slot === "b")).toMatchObject({ version: `${build!.version}+good`, state: "trial" });
    // Power is cut at once (qemu killed, no sync by the guest): what apply wrote must already be on the disk.
    const t0 = Date.now();
    const accel = vm!.accel;
    await vm!.kill();
    vm = await Vm.boot({ image, dir: work, drives: [bundles.good, bundles.broken], reuseDisk: true, accel }, ports, log);
    // A good boot under TCG is ready in about 90 s; ten minutes means it hung (the error carries the console).
    await vm!.waitHttp("/readyz", t0, 10 * 60_000);
    const ms = Date.now() - t0;
    log(`good update: /readyz green ${(ms / 1000).toFixed(0)} s after the power cut`);
    expect((await vm!.sh("cat /usr/lib/slowdrip-image/version")).out.trim()).toBe(`${build!.version}+good`);
    // The new slot came with the image's /etc/hostname; the node's name is set again from its id on every boot.
    const id = (await vm!.sh("cat /var/lib/slowdrip/node_id")).out.trim();
    expect((await vm!.sh("hostname; cat /etc/hostname")).out.trim().split("\n")).toEqual([`slowdrip-${id.slice(0, 8)}`, `slowdrip-${id.slice(0, 8)}`]);
    const end = Date.now() + 10 * 60_000;
    let after = await updateStatus();
    while (after.slots.find((s) => s.slot === "b")?.state !== "good" && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 5_000));
      after = await updateStatus();
    }
    expect(after.booted_slot).toBe("b");
    expect(after.slots.find((s) => s.slot === "b")).toMatchObject({ version: `${build!.version}+good`, state: "good" });
    expect(after.last_result).toMatch(/booted and is marked good/);
  }, 45 * 60_000);

  it("rolls a broken update (its node exits at start) back to the previous slot", async () => {
    const r = await applyUpdate("/dev/vdc");
    expect(r.code, r.out).toBe(0);
    expect((await updateStatus()).slots.find((s) => s.slot === "a")).toMatchObject({ version: `${build!.version}+broken`, state: "trial" });
    // The trial boot of slot A fails its gate and reboots by itself; the boot after it is slot B again.
    const ms = await rebootToReady();
    log(`broken update: back on /readyz ${(ms / 1000).toFixed(0)} s after the reboot`);
    const st = await updateStatus();
    expect(st.booted_slot).toBe("b");
    expect(st.booted_version).toBe(`${build!.version}+good`);
    expect(st.slots.find((s) => s.slot === "a")).toMatchObject({ version: `${build!.version}+broken`, state: "bad" });
    expect(st.last_result).toMatch(/failed its trial boot; rolled back to slot B/);
    expect(vm!.consoleText()).toMatch(/this boot fails its trial|broken update: the node exits at start/);
    // The trial's gate gave up on the node's restarts, not at the timeout (its journal stayed on slot A's root; its
    // output also went to the console).
    expect(vm!.consoleText()).toMatch(/update: (the node exited and was restarted \d+ times|the node's unit has failed)[^\n]*this boot fails its trial/);
  }, 45 * 60_000);
});
