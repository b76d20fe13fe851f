// Running arm64 programs on an x64 build machine: mmdebstrap runs the arm64 packages' maintainer scripts (and the
// kernel's initramfs build) in the new root through qemu-user-static, which the kernel's binfmt_misc starts.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

const BINFMT = "/proc/sys/fs/binfmt_misc";

/** The qemu binfmt entry name of a Debian architecture, or null when this machine runs it natively. */
export function foreignEntry(debArch, hostArch = process.arch) {
  const native = { x64: "amd64", arm64: "arm64" }[hostArch];
  if (debArch === native) return null;
  const entry = { arm64: "qemu-aarch64", amd64: "qemu-x86_64" }[debArch];
  if (!entry) throw new Error(`no qemu binfmt entry known for ${debArch}`);
  return entry;
}

/**
 * Make sure binfmt_misc runs `debArch` programs through qemu-user-static (a no-op for the native arch). A machine
 * without systemd running never got the entry from the package's install: it is registered here from the package's
 * own /usr/lib/binfmt.d file (mounting binfmt_misc first when needed). Throws, naming what to install, when it cannot.
 */
export function ensureBinfmt(debArch, log = console.error) {
  const entry = foreignEntry(debArch);
  if (!entry) return;
  const conf = `/usr/lib/binfmt.d/${entry}.conf`;
  const enabled = () => existsSync(`${BINFMT}/${entry}`) && readFileSync(`${BINFMT}/${entry}`, "utf8").startsWith("enabled");
  if (enabled()) return;
  if (!existsSync(conf)) throw new Error(`building a ${debArch} root file system needs qemu-user-static (Debian: apt-get install qemu-user-static): ${conf} is missing`);
  if (!existsSync(`${BINFMT}/register`)) {
    const m = spawnSync("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT], { encoding: "utf8" });
    if (m.status !== 0) throw new Error(`binfmt_misc is not mounted at ${BINFMT} and mounting it failed (run as root): ${m.stderr.trim()}`);
  }
  log(`image: registering ${entry} with binfmt_misc (${conf})`);
  const r = spawnSync("/usr/lib/systemd/systemd-binfmt", [conf], { encoding: "utf8" });
  if (r.status !== 0 || !enabled()) throw new Error(`registering ${conf} with binfmt_misc failed (run as root): ${`${r.stderr ?? ""}${r.error?.message ?? ""}`.trim()}`);
}
