// Stage 1 of the image build: the Debian trixie root file system from Debian's packages (mmdebstrap), cached by its inputs.
//
// mmdebstrap gets the mirror on its own command line (the host's apt sources are not read or changed) and writes a
// tarball. The kernel's initramfs is made once, while mmdebstrap installs linux-image-*; nothing later rebuilds it.
// The tarball and the package manifest are cached in ${XDG_CACHE_HOME:-~/.cache}/slowdrip/image/rootfs-<key>/, where
// key is the sha256 of everything that decides their content (suite, mirror, arch, package list, this file).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureBinfmt } from "./binfmt.mjs";

export const SUITE = "trixie";
export const MIRROR = "http://deb.debian.org/debian";

/** Debian architecture names of the image arches. */
export const DEB_ARCH = { x64: "amd64", arm64: "arm64" };

/** Packages on top of mmdebstrap's "apt" variant (Essential + apt), per arch. */
export function packageList(arch, { ssh = false } = {}) {
  const common = [
    "systemd", "systemd-sysv", "udev", "dbus", "systemd-timesyncd", "systemd-resolved", "systemd-boot-efi", "systemd-boot",
    "libatomic1", "libstdc++6", "ca-certificates", "curl", "openssl", "fdisk", "e2fsprogs", "iproute2", "kmod", "zstd",
  ];
  if (ssh) common.push("openssh-server");
  if (arch === "x64") return [...common, "linux-image-amd64"];
  if (arch === "arm64") return [...common, "linux-image-arm64", "raspi-firmware"];
  throw new Error(`unknown arch ${arch}`);
}

/**
 * The CPU qemu-user emulates for a foreign arch's install scripts. Its default ("max") implements pointer
 * authentication with the QARMA cipher, and Debian's arm64 programs authenticate every return address: a Cortex-A72
 * has no pointer authentication (those instructions are hints, run as no-ops), and `systemd-hwdb update` runs 15 times
 * faster under it (86 s against 5.8 s on a 2-core PC), depmod twice as fast.
 */
export function emulatedCpu(arch) {
  const native = (arch === "x64" && process.arch === "x64") || (arch === "arm64" && process.arch === "arm64");
  return native || arch !== "arm64" ? {} : { QEMU_CPU: "cortex-a72" };
}

/** Root of the image build cache. */
export function cacheRoot(env = process.env) {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), ".cache");
  return join(base, "slowdrip", "image");
}

/** Cache key of a root file system: the hash of every input that decides its content. */
export function rootfsKey(arch, packages) {
  const self = readFileSync(fileURLToPath(import.meta.url));
  return createHash("sha256").update(JSON.stringify({ SUITE, MIRROR, arch, packages })).update(self).digest("hex").slice(0, 16);
}

/**
 * Build (or find in the cache) the root file system tarball for `arch`: the image's packages, or `packages` under
 * another cache `name` (the bench's minimal image).
 * @returns {{tar: string, manifest: string, cached: boolean, seconds: number, builtSeconds?: number}} seconds: spent now;
 *   builtSeconds: what building it took, now or when it was cached
 */
export function buildRootfs(arch, { ssh = false, name = "rootfs", packages = packageList(arch, { ssh }), log = console.error, env = process.env } = {}) {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`bad root file system cache name ${name}`);
  const dir = join(cacheRoot(env), `${name}-${arch}-${rootfsKey(arch, packages)}`);
  const tar = join(dir, "rootfs.tar");
  const manifest = join(dir, "manifest.tsv");
  if (existsSync(tar) && existsSync(manifest)) {
    log(`image: root file system from the cache ${dir}`);
    const built = JSON.parse(readFileSync(join(dir, "inputs.json"), "utf8"));
    return { tar, manifest, cached: true, seconds: 0, builtSeconds: built.seconds };
  }
  ensureBinfmt(DEB_ARCH[arch], log);
  const t0 = Date.now();
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  // The initramfs is generic (MODULES=most, the Debian default): the same one boots qemu and the hardware.
  const hooks = [
    // No recommends pulled in later either, and no docs/manpages in the image.
    `--setup-hook=mkdir -p "$1/etc/dpkg/dpkg.cfg.d" && printf 'path-exclude=/usr/share/doc/*\\npath-include=/usr/share/doc/*/copyright\\npath-exclude=/usr/share/man/*\\npath-exclude=/usr/share/locale/*\\npath-exclude=/usr/share/info/*\\n' > "$1/etc/dpkg/dpkg.cfg.d/90-slowdrip-nodoc"`,
    // kernel-install (systemd-boot's hooks) must not try to put kernels into an ESP: the image build does that.
    `--essential-hook=mkdir -p "$1/etc/kernel" && echo 'layout=other' > "$1/etc/kernel/install.conf"`,
    `--customize-hook=chroot "$1" dpkg-query -W -f='\${Package}\\t\${Version}\\t\${Architecture}\\n' > "${join(work, "manifest.tsv")}"`,
    `--customize-hook=rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id" && echo uninitialized > "$1/etc/machine-id"`,
    `--customize-hook=rm -rf "$1/var/cache/apt/"*.bin "$1/var/lib/apt/lists/"*_Packages "$1/var/log/"*.log`,
  ];
  const args = [
    "--variant=apt", `--architectures=${DEB_ARCH[arch]}`, "--components=main,non-free-firmware",
    `--include=${packages.join(",")}`, "--aptopt=APT::Install-Recommends \"false\"", ...hooks,
    SUITE, join(work, "rootfs.tar"), MIRROR,
  ];
  log(`image: mmdebstrap ${SUITE} ${DEB_ARCH[arch]} (${packages.length} packages on the apt variant)`);
  const r = spawnSync("mmdebstrap", args, { stdio: ["ignore", "inherit", "inherit"], env: { ...env, SOURCE_DATE_EPOCH: env.SOURCE_DATE_EPOCH ?? "1767225600", ...emulatedCpu(arch) } });
  if (r.status !== 0) throw new Error(`mmdebstrap failed (exit ${r.status ?? r.signal})`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  // Older root file systems of this arch (other inputs) are not used again.
  for (const f of readdirSync(cacheRoot(env))) {
    if (f.startsWith(`${name}-${arch}-`) && join(cacheRoot(env), f) !== dir) rmSync(join(cacheRoot(env), f), { recursive: true, force: true });
  }
  const seconds = (Date.now() - t0) / 1000;
  // How long the build took is kept beside its inputs: `npm run bench -- image` reports it for a cached build too.
  writeFileSync(join(dir, "inputs.json"), `${JSON.stringify({ suite: SUITE, mirror: MIRROR, arch, packages, seconds }, null, 2)}\n`);
  return { tar, manifest, cached: false, seconds, builtSeconds: seconds };
}
