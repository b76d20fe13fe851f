// Appliance image build: `npm run image -- --arch x64|arm64` writes build/image/slowdrip-<version>-<arch>.img.zst.
//
// usage: node image/build.mjs [--arch x64|arm64] [--ssh-key FILE] [--debug-shell] [--version V] [--out DIR] [--raw]
//
// 1. The root file system: Debian trixie from Debian's packages (image/rootfs.mjs, mmdebstrap, cached by its inputs).
// 2. Into a copy of it: the single executable (npm run build:bin, the CLI), its appliance build (--profile appliance,
//    the one slowdrip.service runs), MediaMTX (npm run mediamtx:install), the units and sysusers from systemd/ (users
//    made now, with systemd-sysusers --root), the image's own files (image/files/: networkd DHCP, persistent capped
//    journald, first boot, hostname, boot-partition config, console banner, update gate), fstab.
// 3. File systems written into plain files: mkfs.ext4 -d (root slot A, empty data), mkfs.vfat + mtools (boot/ESP with
//    systemd-boot, the kernel and the initramfs mmdebstrap made, boot entries with a boot counter), then one disk
//    image: partition table by sfdisk, partitions copied in with dd. No loop devices, no mounts.
// 4. zstd, a .sha256 file and a manifest (package versions, the executable's and MediaMTX's sha256).
//
// Layout (GPT on x64, MBR on arm64 for the Pi's firmware): 1 boot FAT (the ESP, mounted at /efi, /boot/firmware links
// to it), 2 root slot A, 3 root slot B (empty until the first update), 4 data (/var/lib/slowdrip, grown at first boot).
// --debug-shell adds a root shell on the second serial port (ttyS1; on arm64 the virtio console hvc0): for the boot
// test only, never ship it.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildRootfs } from "./rootfs.mjs";
import { layout, PART_UUID } from "./layout.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function fail(msg) {
  console.error(`image: ${msg}`);
  process.exit(1);
}

/** Run a command; throws with its stderr on failure. Returns stdout. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal}): ${`${r.stderr ?? ""}${r.stdout ?? ""}`.trim().slice(-3000)}`);
  return r.stdout ?? "";
}

function sha256File(path) {
  const h = createHash("sha256");
  h.update(readFileSync(path));
  return h.digest("hex");
}

/**
 * The single executables and MediaMTX for `arch`, built or taken from their caches by the project's own scripts: the
 * default build (`bin`, the CLI: update apply writes the disk, config check reads any file) and the appliance build
 * (`node`, the one slowdrip.service runs: Node's permission model fixed into it for the units' paths).
 */
function parts(arch) {
  const bin = join(root, arch === "x64" && process.arch === "x64" ? "dist/slowdrip" : `dist/slowdrip-linux-${arch}`);
  const node = join(root, `dist/slowdrip-appliance-linux-${arch}`);
  console.error(`image: single executable (npm run build:bin -- --arch ${arch})`);
  run(process.execPath, [join(root, "scripts/build-bin.mjs"), "--arch", arch], { stdio: ["ignore", "ignore", "inherit"] });
  console.error(`image: appliance executable (npm run build:bin -- --arch ${arch} --profile appliance)`);
  run(process.execPath, [join(root, "scripts/build-bin.mjs"), "--arch", arch, "--profile", "appliance", "--output", node], { stdio: ["ignore", "ignore", "inherit"] });
  console.error(`image: MediaMTX (npm run mediamtx:install -- --arch ${arch})`);
  const out = run(process.execPath, [join(root, "scripts/mediamtx-install.mjs"), "--arch", arch], { stdio: ["ignore", "pipe", "inherit"] });
  const mediamtx = out.trim().split("\n").pop();
  for (const f of [bin, node, mediamtx]) if (!existsSync(f)) throw new Error(`missing ${f}`);
  return { bin, node, mediamtx };
}

/** Fill the root directory with the node, MediaMTX, units and the image's files. */
function customize(dir, { arch, version, bin, node, mediamtx, sshKey, debugShell }) {
  const L = layout(arch);
  mkdirSync(join(dir, "usr/local/libexec"), { recursive: true });
  for (const [src, dst] of [[bin, "usr/local/bin/slowdrip"], [node, "usr/local/libexec/slowdrip-node"], [mediamtx, "usr/local/bin/mediamtx"]]) {
    copyFileSync(src, join(dir, dst));
    chmodSync(join(dir, dst), 0o755);
  }
  // The units as they are in systemd/ (their hardening is maintained there), and their users, made now.
  for (const f of readdirSync(join(root, "systemd"))) {
    if (/\.(service|path)$/.test(f)) copyFileSync(join(root, "systemd", f), join(dir, "etc/systemd/system", f));
  }
  mkdirSync(join(dir, "usr/lib/sysusers.d"), { recursive: true });
  copyFileSync(join(root, "systemd/slowdrip.sysusers.conf"), join(dir, "usr/lib/sysusers.d/slowdrip.conf"));
  run("systemd-sysusers", [`--root=${dir}`]);
  cpSync(join(root, "image/files"), dir, { recursive: true });
  mkdirSync(join(dir, "etc/slowdrip"), { recursive: true });
  copyFileSync(join(root, "configs/slowdrip.yaml"), join(dir, "etc/slowdrip/slowdrip.yaml"));
  writeFileSync(join(dir, "usr/lib/slowdrip-image/version"), `${version}\n`);
  writeFileSync(join(dir, "usr/lib/slowdrip-image/arch"), `${arch}\n`);
  // The kernel this slot boots: `slowdrip update apply` reads it (with debugfs, unmounted) to copy kernel + initramfs.
  const kernels = readdirSync(join(dir, "boot")).filter((f) => f.startsWith("vmlinuz-"));
  writeFileSync(join(dir, "usr/lib/slowdrip-image/kernel"), `${kernels[0]?.slice("vmlinuz-".length) ?? ""}\n`);
  writeFileSync(join(dir, "etc/hostname"), "slowdrip\n");
  writeFileSync(join(dir, "etc/hosts"), "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n");
  // Root comes from the kernel command line (root=PARTUUID of the slot), so one fstab fits both slots.
  writeFileSync(join(dir, "etc/fstab"), [
    "# SlowDrip image: the boot FAT (ESP), the data partition. / is the slot named on the kernel command line.",
    `PARTUUID=${L.uuid.boot}\t/efi\tvfat\tumask=0077,noatime,x-systemd.automount=no\t0\t2`,
    `PARTUUID=${L.uuid.data}\t/var/lib/slowdrip\text4\tnoatime,nodev,nosuid\t0\t2`,
    "",
  ].join("\n"));
  mkdirSync(join(dir, "efi"), { recursive: true });
  mkdirSync(join(dir, "var/lib/slowdrip"), { recursive: true });
  rmSync(join(dir, "boot/firmware"), { recursive: true, force: true });
  symlinkSync("../efi", join(dir, "boot/firmware"));
  rmSync(join(dir, "etc/resolv.conf"), { force: true });
  symlinkSync("../run/systemd/resolve/stub-resolv.conf", join(dir, "etc/resolv.conf"));
  const enable = ["slowdrip.service", "slowdrip-mediamtx.path", "slowdrip-firstboot.service", "slowdrip-hostname.service", "slowdrip-bootconfig.service", "slowdrip-banner.service",
    "systemd-networkd.service", "systemd-resolved.service", "systemd-networkd-wait-online.service", "systemd-timesyncd.service"];
  if (sshKey) {
    mkdirSync(join(dir, "root/.ssh"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "root/.ssh/authorized_keys"), readFileSync(sshKey), { mode: 0o600 });
    // The package made host keys at build time, the same in every copy of the image: drop them, make new ones at boot.
    for (const f of readdirSync(join(dir, "etc/ssh"))) if (f.startsWith("ssh_host_")) rmSync(join(dir, "etc/ssh", f));
    mkdirSync(join(dir, "etc/systemd/system/ssh.service.d"), { recursive: true });
    writeFileSync(join(dir, "etc/systemd/system/ssh.service.d/10-hostkeys.conf"), "[Service]\nExecStartPre=/usr/bin/ssh-keygen -A\n");
    enable.push("ssh.service");
  }
  if (debugShell) {
    // Test images only: a root shell straight on the second serial port (no getty, no login), the boot test's channel.
    // qemu's arm64 virt board has one UART, so there it is the first virtio console.
    const tty = arch === "x64" ? "ttyS1" : "hvc0";
    writeFileSync(join(dir, "etc/systemd/system/slowdrip-debug-shell.service"), [
      "# TEST IMAGES ONLY (npm run image -- --debug-shell): a root shell on the second serial port.",
      "[Unit]", "Description=SlowDrip debug shell (test images only)", "After=systemd-user-sessions.service", "",
      "[Service]", "ExecStart=/bin/sh", "StandardInput=tty-force", "StandardOutput=tty", "StandardError=tty",
      `TTYPath=/dev/${tty}`, "TTYReset=yes", "Environment=TERM=dumb HOME=/root PAGER=cat SYSTEMD_PAGER= SYSTEMD_COLORS=0",
      // An interactive sh ignores SIGTERM: without SIGKILL every reboot waited out the 90 s stop timeout.
      "WorkingDirectory=/root", "Restart=always", "RestartSec=1", "KillSignal=SIGKILL", "", "[Install]", "WantedBy=multi-user.target", "",
    ].join("\n"));
    // systemd-getty-generator would start a getty on a virtio console: the shell owns it.
    if (tty === "hvc0") symlinkSync("/dev/null", join(dir, "etc/systemd/system/serial-getty@hvc0.service"));
    enable.push("slowdrip-debug-shell.service");
  }
  enable.push("slowdrip-update-gate.service");
  run("systemctl", [`--root=${dir}`, "enable", ...enable], { stdio: ["ignore", "ignore", "pipe"] });
  // /etc and /var are as new as /usr: no ConditionNeedsUpdate= jobs (ldconfig, hwdb, journal catalog) at first boot.
  writeFileSync(join(dir, "etc/.updated"), "");
  writeFileSync(join(dir, "var/.updated"), "");
}

/** Files of the boot FAT: systemd-boot, loader.conf, kernel + initramfs of slot A and its boot entry. */
function bootFiles(dir, arch, version, staging) {
  const L = layout(arch);
  const kernels = readdirSync(join(dir, "boot")).filter((f) => f.startsWith("vmlinuz-"));
  if (kernels.length !== 1) throw new Error(`expected one kernel in /boot, found ${kernels.join(", ") || "none"}`);
  const kver = kernels[0].slice("vmlinuz-".length);
  const out = join(staging, "boot");
  mkdirSync(join(out, "EFI/BOOT"), { recursive: true });
  mkdirSync(join(out, "loader/entries"), { recursive: true });
  mkdirSync(join(out, "slowdrip-a"), { recursive: true });
  copyFileSync(join(dir, `usr/lib/systemd/boot/efi/systemd-boot${L.efiArch}.efi`), join(out, `EFI/BOOT/BOOT${L.efiArch.toUpperCase()}.EFI`));
  copyFileSync(join(dir, "boot", `vmlinuz-${kver}`), join(out, "slowdrip-a/vmlinuz"));
  copyFileSync(join(dir, "boot", `initrd.img-${kver}`), join(out, "slowdrip-a/initrd.img"));
  writeFileSync(join(out, "loader/loader.conf"), "timeout 0\nconsole-mode keep\neditor no\n");
  writeFileSync(join(out, "loader/entries/slowdrip-a.conf"), bootEntry(arch, "a", version));
  if (arch === "arm64") {
    // The Pi boots without UEFI: its firmware (raspi-firmware's files, at the FAT's root) reads config.txt, whose
    // os_prefix points it at slot A's directory for the kernel, initramfs, cmdline.txt and device trees (the
    // firmware ignores os_prefix unless the kernel and the board's .dtb are found under it). The kernel and initramfs
    // are the ones systemd-boot starts on UEFI boards (qemu's virt): one copy serves both.
    const fw = join(dir, "usr/lib/raspi-firmware");
    if (!existsSync(fw)) throw new Error("raspi-firmware's files are missing from the root file system");
    cpSync(fw, out, { recursive: true });
    const dtbs = join(dir, "usr/lib/linux-image-" + kver, "broadcom");
    for (const f of readdirSync(dtbs).filter((f) => /^bcm27\d\d-.*\.dtb$/.test(f))) copyFileSync(join(dtbs, f), join(out, "slowdrip-a", f));
    writeFileSync(join(out, "config.txt"), [
      "# SlowDrip image (Raspberry Pi 4/5): the firmware loads slot A's kernel, initramfs, cmdline.txt and device tree.",
      "arm_64bit=1", "enable_uart=1", "upstream_kernel=1", "disable_overscan=1",
      "os_prefix=slowdrip-a/", "kernel=vmlinuz", "initramfs initrd.img followkernel", "",
    ].join("\n"));
    writeFileSync(join(out, "slowdrip-a/cmdline.txt"), `${L.cmdline("a")}\n`);
  }
  return { dir: out, kver };
}

/**
 * A systemd-boot entry for a slot, as src/update/slots.ts entryText() writes it: `version` is the boot generation
 * (systemd-boot starts the highest), the title names the software version. Boot counting is added by the update,
 * which names the file slot+TRIES.conf.
 */
export function bootEntry(arch, slot, version) {
  const L = layout(arch);
  return [
    `title SlowDrip ${version} (slot ${slot.toUpperCase()})`,
    "sort-key slowdrip",
    "version 1",
    `linux /slowdrip-${slot}/vmlinuz`,
    `initrd /slowdrip-${slot}/initrd.img`,
    `options ${L.cmdline(slot)}`,
    "",
  ].join("\n");
}

/** A FAT image of `mib` MiB holding the tree `src`, written with mkfs.vfat and mtools (no mount). */
export function fatImage(src, file, mib) {
  rmSync(file, { force: true });
  run("mkfs.vfat", ["-F", "32", "-n", "SLOWDRIP", "-i", "51d0d21f", "-C", file, String(mib * 1024)]);
  const env = { ...process.env, MTOOLS_SKIP_CHECK: "1" };
  const entries = readdirSync(src).map((f) => join(src, f));
  run("mcopy", ["-s", "-p", "-m", "-i", file, ...entries, "::/"], { env });
}

/** An ext4 image of `mib` MiB, filled from `src` (mkfs.ext4 -d) when given. */
export function ext4Image(file, mib, label, uuid, src) {
  rmSync(file, { force: true });
  const args = ["-q", "-F", "-t", "ext4", "-L", label, "-U", uuid, "-m", "1", "-E", `root_owner=0:0,hash_seed=${uuid}`];
  if (src) args.push("-d", src);
  run("mkfs.ext4", [...args, file, `${mib}M`], { env: { ...process.env, E2FSPROGS_FAKE_TIME: process.env.SOURCE_DATE_EPOCH ?? "1767225600" } });
}

/** Partition table + partitions into one plain file. */
function diskImage(file, arch, pieces) {
  const L = layout(arch);
  rmSync(file, { force: true });
  writeFileSync(file, "");
  run("truncate", ["-s", `${L.totalMiB}M`, file]);
  run("sfdisk", ["--quiet", "--no-reread", "--no-tell-kernel", file], { input: L.sfdisk() });
  for (const [name, img] of Object.entries(pieces)) {
    const p = L.parts.find((x) => x.name === name);
    run("dd", [`if=${img}`, `of=${file}`, "bs=1M", `seek=${p.startMiB}`, "conv=notrunc,sparse", "status=none"]);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      arch: { type: "string", default: process.arch === "arm64" ? "arm64" : "x64" },
      "ssh-key": { type: "string" },
      "debug-shell": { type: "boolean", default: false },
      version: { type: "string" },
      out: { type: "string", default: join(root, "build/image") },
      raw: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: npm run image -- [--arch x64|arm64] [--ssh-key FILE] [--debug-shell] [--version V] [--out DIR] [--raw]");
    return;
  }
  const arch = values.arch;
  if (arch !== "x64" && arch !== "arm64") fail(`--arch must be x64 or arm64, not ${arch}`);
  if (values["ssh-key"] && !/^(ssh-|ecdsa-|sk-)/.test(readFileSync(values["ssh-key"], "utf8"))) fail(`--ssh-key ${values["ssh-key"]} is not an OpenSSH public key`);
  for (const tool of ["mmdebstrap", "mkfs.ext4", "mkfs.vfat", "mcopy", "sfdisk", "zstd", "systemd-sysusers"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) fail(`${tool} is missing (Debian: apt-get install mmdebstrap e2fsprogs dosfstools mtools fdisk zstd systemd)`);
  }
  const version = values.version ?? JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
  if (!/^[0-9A-Za-z.+~-]{1,64}$/.test(version)) fail(`bad --version ${version}`);
  const t0 = Date.now();
  const times = {};
  const { bin, node, mediamtx } = parts(arch);
  times.parts = (Date.now() - t0) / 1000;
  const fs = buildRootfs(arch, { ssh: Boolean(values["ssh-key"]) });
  times.rootfs = fs.seconds;
  const outDir = resolve(values.out);
  const work = join(outDir, `work-${arch}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "root"), { recursive: true });
  const t1 = Date.now();
  run("tar", ["-xpf", fs.tar, "-C", join(work, "root"), "--numeric-owner", "--xattrs", "--xattrs-include=*"]);
  customize(join(work, "root"), { arch, version, bin, node, mediamtx, sshKey: values["ssh-key"], debugShell: values["debug-shell"] });
  const boot = bootFiles(join(work, "root"), arch, version, work);
  const L = layout(arch);
  fatImage(boot.dir, join(work, "boot.img"), L.part("boot").sizeMiB);
  ext4Image(join(work, "root-a.img"), L.part("a").sizeMiB, "slowdrip-a", PART_UUID.fsA, join(work, "root"));
  ext4Image(join(work, "data.img"), L.part("data").sizeMiB, "slowdrip-data", PART_UUID.fsData);
  const base = `slowdrip-${version}-${arch}`;
  const img = join(outDir, `${base}.img`);
  diskImage(img, arch, { boot: join(work, "boot.img"), a: join(work, "root-a.img"), data: join(work, "data.img") });
  // The root slot alone, for `slowdrip update` bundles (image/bundle.mjs).
  copyFileSync(join(work, "root-a.img"), join(outDir, `${base}.root.img`));
  times.assemble = (Date.now() - t1) / 1000;
  const t2 = Date.now();
  run("zstd", ["-q", "-f", "-T0", "-6", img, "-o", `${img}.zst`]);
  times.compress = (Date.now() - t2) / 1000;
  writeFileSync(`${img}.zst.sha256`, `${sha256File(`${img}.zst`)}  ${base}.img.zst\n`);
  const pkgs = readFileSync(fs.manifest, "utf8").trim().split("\n").sort();
  const manifest = [
    `# ${base}: Debian trixie (${arch}), kernel ${boot.kver}`,
    `slowdrip\t${version}\tsha256:${sha256File(bin)}`,
    `slowdrip-node\t${version}\tsha256:${sha256File(node)}`,
    `mediamtx\t${run(mediamtx, ["--version"]).trim()}\tsha256:${sha256File(mediamtx)}`,
    ...pkgs,
    "",
  ].join("\n");
  writeFileSync(join(outDir, `${base}.manifest.tsv`), manifest);
  if (!values.raw) rmSync(img);
  rmSync(work, { recursive: true, force: true });
  times.total = (Date.now() - t0) / 1000;
  const result = { image: `${img}.zst`, raw: values.raw ? img : undefined, root: join(outDir, `${base}.root.img`), arch, version, kernel: boot.kver,
    sizes: { compressed: statSync(`${img}.zst`).size, uncompressed: L.totalMiB * 1024 * 1024 }, rootfsCached: fs.cached, rootfsBuiltSeconds: fs.builtSeconds, seconds: times };
  writeFileSync(join(outDir, `${base}.build.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.error(`image: ${img}.zst (${(result.sizes.compressed / 1048576).toFixed(0)} MiB) in ${times.total.toFixed(0)} s`);
  console.log(JSON.stringify(result));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => fail(e instanceof Error ? e.message : String(e)));
}
