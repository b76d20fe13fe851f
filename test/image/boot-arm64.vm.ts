// The arm64 (Raspberry Pi 4/5) image: `npm run image -- --arch arm64` builds it (the root file system under
// qemu-user-static), and qemu-system-aarch64 boots it on the virt board (UEFI from AAVMF, then the image's own
// systemd-boot, the same root file system and kernel as on the Pi) to a node that serves /readyz and runs MediaMTX.
// The Pi's own boot path (firmware, config.txt, cmdline.txt) is checked as files: no qemu board runs the Pi firmware.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, get, sha256s, Vm, type Forwards } from "./vm.ts";

const root = resolve(import.meta.dirname, "../..");
const out = join(root, "build/image-test-arm64");
const work = join(out, "vm");
let image = "";
let build: { seconds: { total: number; rootfs: number }; rootfsCached: boolean; sizes: { compressed: number }; version: string; kernel: string } | undefined;
let vm: Vm | undefined;
let ports: Forwards;
let readyMs = 0;

function log(s: string): void {
  process.stderr.write(`[image arm64] ${s}\n`);
}

/** The files of the image's boot partition (FAT, partition 1 at 1 MiB), read with mtools: no mount. */
function bootFat(path: string): string {
  const r = spawnSync("mtype", ["-i", `${image}@@1M`, `::${path}`], { encoding: "utf8", env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });
  expect(r.status, `mtype ${path}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  const r = spawnSync("npm", ["run", "--silent", "image", "--", "--arch", "arm64", "--raw", "--debug-shell", "--out", out], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 40 * 60_000 });
  expect(r.status, "npm run image -- --arch arm64 failed").toBe(0);
  build = JSON.parse(r.stdout.trim().split("\n").pop()!);
  log(`build: ${build!.seconds.total.toFixed(0)} s (root fs ${build!.rootfsCached ? "cached" : `${build!.seconds.rootfs.toFixed(0)} s`}), ${(build!.sizes.compressed / 1e6).toFixed(0)} MB compressed`);
  image = join(out, `slowdrip-${build!.version}-arm64.img`);
  const [http, admin, rtmp] = await freePorts(3);
  ports = { http: http!, admin: admin!, rtmp: rtmp! };
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  vm = await Vm.boot({ image, dir: work, arch: "arm64", memoryMiB: 2048 }, ports, log);
  // An emulated arm64 guest on an x64 host runs several times slower than the x64 one: the bound is not a speed goal.
  readyMs = await vm!.waitHttp("/readyz", vm.startedAt, Number(process.env.SLOWDRIP_TEST_IMAGE_ARM64_READY_MS ?? 900_000));
  log(`/readyz green ${(readyMs / 1000).toFixed(1)} s after qemu started (TCG, load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")})`);
}, 60 * 60_000);

afterAll(async () => {
  await vm?.kill();
});

describe("arm64 image", () => {
  it("is built into a compressed plain file (≤ 400 MB) with its sha256 and a manifest of arm64 packages", () => {
    const zst = `${image}.zst`;
    expect(existsSync(zst)).toBe(true);
    expect(build!.sizes.compressed).toBeLessThanOrEqual(400e6);
    const { recorded, actual } = sha256s(zst);
    expect(recorded).toBe(actual);
    const manifest = readFileSync(join(out, `slowdrip-${build!.version}-arm64.manifest.tsv`), "utf8");
    expect(manifest).toMatch(/^linux-image-arm64\t\S+\tarm64$/m);
    expect(manifest).toMatch(/^raspi-firmware\t/m);
    expect(manifest).toMatch(/^systemd\t257\.\S+\tarm64$/m);
    expect(manifest).not.toMatch(/\tamd64$/m);
  });

  it("carries the Pi's boot files: firmware, config.txt and cmdline.txt booting slot A's kernel with its device trees", () => {
    const config = bootFat("/config.txt");
    expect(config).toMatch(/^arm_64bit=1$/m);
    const prefix = config.match(/^os_prefix=(\S+)$/m)?.[1];
    expect(prefix).toBe("slowdrip-a/");
    expect(config).toMatch(/^kernel=vmlinuz$/m);
    expect(config).toMatch(/^initramfs initrd\.img followkernel$/m);
    // The firmware ignores os_prefix unless the kernel and the board's .dtb are found under it.
    for (const f of ["vmlinuz", "initrd.img", "bcm2711-rpi-4-b.dtb", "bcm2712-rpi-5-b.dtb", "cmdline.txt"]) {
      const r = spawnSync("mdir", ["-b", "-i", `${image}@@1M`, `::/slowdrip-a/${f}`], { encoding: "utf8", env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });
      expect(r.status, `slowdrip-a/${f} on the boot partition`).toBe(0);
    }
    expect(bootFat("/slowdrip-a/cmdline.txt").trim()).toMatch(/^root=PARTUUID=51d0d21f-02 rw rootwait .*slowdrip\.slot=a/);
    for (const f of ["start4.elf", "fixup4.dat"]) {
      const r = spawnSync("mdir", ["-b", "-i", `${image}@@1M`, `::/${f}`], { encoding: "utf8", env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } });
      expect(r.status, `${f} (raspi-firmware) on the boot partition`).toBe(0);
    }
  });

  it("boots on qemu's arm64 virt board to a green /readyz, running the arm64 appliance build", async () => {
    expect(readyMs).toBeGreaterThan(0);
    expect((await get(`http://127.0.0.1:${ports.http}/healthz`))?.status).toBe(200);
    expect((await vm!.sh("uname -m")).out.trim()).toBe("aarch64");
    expect((await vm!.sh("cat /usr/lib/slowdrip-image/arch /proc/cmdline")).out).toMatch(/^arm64\n.*slowdrip\.slot=a/);
    const pid = (await vm!.sh("systemctl show -p MainPID --value slowdrip.service")).out.trim();
    expect(pid).toMatch(/^[1-9][0-9]*$/);
    expect((await vm!.sh(`readlink /proc/${pid}/exe`)).out.trim()).toBe("/usr/local/libexec/slowdrip-node");
    expect(Number((await vm!.sh("journalctl -b -u slowdrip.service -o cat --no-pager | grep -c 'permissions dropped after start-up'")).out.trim())).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it("did its first boot and runs MediaMTX beside the node", async () => {
    const id = (await vm!.sh("cat /var/lib/slowdrip/node_id")).out.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await vm!.sh("hostname")).out.trim()).toBe(`slowdrip-${id.slice(0, 8)}`);
    const mediamtx = await vm!.sh("for i in $(seq 60); do systemctl is-active --quiet slowdrip-mediamtx.service && break; sleep 2; done; systemctl is-active slowdrip-mediamtx.service; readlink /proc/$(systemctl show -p MainPID --value slowdrip-mediamtx.service)/exe", 180_000);
    expect(mediamtx.out.trim().split("\n")).toEqual(["active", "/usr/local/bin/mediamtx"]);
    await vm!.waitConsole(/slowdrip: admin certificate SHA-256 fingerprint: /, 300_000);
    expect(vm!.consoleText()).toContain(`slowdrip: SlowDrip node ${id}`);
  }, 600_000);
});
