// The image bench's anchor: a minimal Debian trixie image booted the same way as the product (UEFI, systemd-boot,
// the product's own kernel, initramfs and modules, networkd DHCP) whose only service is busybox httpd serving one
// static file on :8080. `npm run bench -- image` times both images from power-on to their first HTTP 200.
//
// usage: node image/minimal.mjs [--arch x64|arm64] [--out DIR]
// Prints a JSON line: { image, kernel, seconds, rootfsCached }.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ext4Image, fatImage, run } from "./build.mjs";
import { buildRootfs } from "./rootfs.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Packages of the minimal root file system: no kernel package (the product's kernel files are copied in). */
export const MINIMAL_PACKAGES = ["systemd", "systemd-sysv", "udev", "kmod", "systemd-boot-efi", "busybox"];

const UUID = { disk: "5D0D0000-5D0D-4000-8000-5D0D0000FFFF", esp: "5d0d0001-5d0d-4001-8001-5d0d0000ffff", root: "5d0d0002-5d0d-4002-8002-5d0d0000ffff", fs: "5d0d0e00-5d0d-4e00-8e00-5d0d0e000e0e" };
const SIZES = { esp: 128, root: 512 };

/**
 * Build the minimal image for `arch` into `outDir`. Its kernel, initramfs and modules are the product's, taken from
 * the product's root file system (image/rootfs.mjs, from its cache or built now).
 */
export function buildMinimal(arch, outDir, log = console.error) {
  const t0 = Date.now();
  const productRootfs = buildRootfs(arch, { log }).tar;
  const fs = buildRootfs(arch, { name: "minimal", packages: MINIMAL_PACKAGES, log });
  const work = join(outDir, `minimal-work-${arch}`);
  rmSync(work, { recursive: true, force: true });
  const dir = join(work, "root");
  mkdirSync(dir, { recursive: true });
  run("tar", ["-xpf", fs.tar, "-C", dir, "--numeric-owner"]);
  const kfiles = run("tar", ["-tf", productRootfs, "./boot/"]).split("\n").filter((f) => /^\.\/boot\/vmlinuz-/.test(f));
  if (kfiles.length !== 1) throw new Error(`expected one kernel in ${productRootfs}, found ${kfiles.length}`);
  const kver = kfiles[0].slice("./boot/vmlinuz-".length);
  run("tar", ["-xpf", productRootfs, "-C", dir, "--numeric-owner", `./boot/vmlinuz-${kver}`, `./boot/initrd.img-${kver}`, `./usr/lib/modules/${kver}`]);
  mkdirSync(join(dir, "etc/systemd/network"), { recursive: true });
  copyFileSync(join(root, "image/files/etc/systemd/network/20-wired.network"), join(dir, "etc/systemd/network/20-wired.network"));
  mkdirSync(join(dir, "srv/www"), { recursive: true });
  writeFileSync(join(dir, "srv/www/healthz"), "ok\n");
  writeFileSync(join(dir, "etc/systemd/system/static-http.service"), [
    "# The image bench's anchor: one static file over HTTP.",
    "[Unit]", "Description=static HTTP (busybox httpd)", "",
    "[Service]", "ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www", "", "[Install]", "WantedBy=multi-user.target", "",
  ].join("\n"));
  writeFileSync(join(dir, "etc/hostname"), "minimal\n");
  writeFileSync(join(dir, "etc/fstab"), "# / is named on the kernel command line\n");
  writeFileSync(join(dir, "etc/.updated"), "");
  writeFileSync(join(dir, "var/.updated"), "");
  run("systemctl", [`--root=${dir}`, "enable", "systemd-networkd.service", "static-http.service"], { stdio: ["ignore", "ignore", "pipe"] });
  const efiArch = arch === "x64" ? "x64" : "aa64";
  const console_ = arch === "x64" ? "console=tty0 console=ttyS0,115200" : "console=tty1 console=ttyAMA0,115200";
  const esp = join(work, "esp");
  mkdirSync(join(esp, "EFI/BOOT"), { recursive: true });
  mkdirSync(join(esp, "loader/entries"), { recursive: true });
  copyFileSync(join(dir, `usr/lib/systemd/boot/efi/systemd-boot${efiArch}.efi`), join(esp, `EFI/BOOT/BOOT${efiArch.toUpperCase()}.EFI`));
  copyFileSync(join(dir, `boot/vmlinuz-${kver}`), join(esp, "vmlinuz"));
  copyFileSync(join(dir, `boot/initrd.img-${kver}`), join(esp, "initrd.img"));
  writeFileSync(join(esp, "loader/loader.conf"), "timeout 0\nconsole-mode keep\neditor no\n");
  writeFileSync(join(esp, "loader/entries/minimal.conf"), `title minimal\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTUUID=${UUID.root} rw rootwait ${console_} panic=10\n`);
  fatImage(esp, join(work, "esp.img"), SIZES.esp);
  ext4Image(join(work, "root.img"), SIZES.root, "minimal", UUID.fs, dir);
  const img = join(outDir, `minimal-${arch}.img`);
  rmSync(img, { force: true });
  writeFileSync(img, "");
  run("truncate", ["-s", `${1 + SIZES.esp + SIZES.root + 1}M`, img]);
  run("sfdisk", ["--quiet", "--no-reread", "--no-tell-kernel", img], { input: [
    "label: gpt", `label-id: ${UUID.disk}`, "unit: sectors", "",
    `start=2048, size=${SIZES.esp * 2048}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=${UUID.esp}, name="ESP"`,
    `start=${(1 + SIZES.esp) * 2048}, size=${SIZES.root * 2048}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=${UUID.root}, name="minimal"`, "",
  ].join("\n") });
  run("dd", [`if=${join(work, "esp.img")}`, `of=${img}`, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"]);
  run("dd", [`if=${join(work, "root.img")}`, `of=${img}`, "bs=1M", `seek=${1 + SIZES.esp}`, "conv=notrunc,sparse", "status=none"]);
  rmSync(work, { recursive: true, force: true });
  return { image: img, kernel: kver, seconds: (Date.now() - t0) / 1000, rootfsCached: fs.cached };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { arch: { type: "string", default: "x64" }, out: { type: "string", default: join(root, "build/bench-image") } } });
  if (values.arch !== "x64" && values.arch !== "arm64") throw new Error(`--arch must be x64 or arm64, not ${values.arch}`);
  mkdirSync(values.out, { recursive: true });
  console.log(JSON.stringify(buildMinimal(values.arch, resolve(values.out))));
}
