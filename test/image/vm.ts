// Boots a SlowDrip image under qemu (OVMF, user networking with restrict=on and host port forwards) and talks to it
// through the debug shell that `npm run image -- --debug-shell` puts on the second serial port.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";

/** Ports forwarded from 127.0.0.1 on the host into the guest. */
export interface Forwards { http: number; admin: number; rtmp: number }

export interface VmOptions {
  /** Raw disk image (the VM writes to a qcow2 overlay, never to this file). */
  image: string;
  /** Work directory for the overlay, firmware variables, console log and shell socket. */
  dir: string;
  arch?: "x64" | "arm64";
  /** Size the overlay presents to the guest (first boot grows the data partition into it). */
  diskSize?: string;
  memoryMiB?: number;
  /** Keep the overlay and the firmware variables from an earlier boot (a reboot after an update). */
  reuseDisk?: boolean;
  /** The accelerator to use without probing (a boot after a power cut uses the one the first boot found). */
  accel?: "kvm" | "tcg";
  /** Further files attached read-only as raw virtio disks (/dev/vdb, /dev/vdc, ... in the guest). */
  drives?: string[];
}

/** Free TCP ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => res(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const FIRMWARE = {
  x64: { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" },
  arm64: { code: "/usr/share/AAVMF/AAVMF_CODE.fd", vars: "/usr/share/AAVMF/AAVMF_VARS.fd" },
};

/** A running VM. */
export class Vm {
  readonly console: string;
  readonly accel: "kvm" | "tcg";
  private shell: Socket | undefined;
  private shellBuf = "";
  private seq = 0;
  readonly startedAt = Date.now();

  private constructor(readonly proc: ChildProcess, readonly opts: VmOptions, readonly ports: Forwards, accel: "kvm" | "tcg") {
    this.console = join(opts.dir, "console.log");
    this.accel = accel;
  }

  /**
   * Boot the image. KVM is tried first with a short probe: /dev/kvm opens on this machine, but real guests can die
   * with "KVM internal error", and qemu's `-accel kvm -accel tcg` does not fall back then. When the KVM guest has
   * not printed the kernel banner within the probe time or qemu has exited, it is killed and TCG is used.
   */
  static async boot(opts: VmOptions, ports: Forwards, log: (s: string) => void = () => {}): Promise<Vm> {
    mkdirSync(opts.dir, { recursive: true });
    const arch = opts.arch ?? "x64";
    if (!opts.reuseDisk) {
      rmSync(join(opts.dir, "disk.qcow2"), { force: true });
      const r = spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", opts.image, "-F", "raw", join(opts.dir, "disk.qcow2"), opts.diskSize ?? "6G"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`qemu-img create failed: ${r.error ? `${r.error.message} (Debian: apt-get install qemu-utils)` : r.stderr}`);
      copyFileSync(FIRMWARE[arch].vars, join(opts.dir, "vars.fd"));
    }
    if (opts.accel) {
      log(`vm: ${opts.accel.toUpperCase()}`);
      return Vm.spawn(opts, ports, opts.accel);
    }
    const kvmOk = arch === "x64" && process.arch === "x64" && existsSync("/dev/kvm") && process.env.SLOWDRIP_TEST_NO_KVM !== "1";
    if (kvmOk) {
      const vm = Vm.spawn(opts, ports, "kvm");
      const ok = await vm.waitConsole(/Linux version/, 25_000).then(() => true, () => false);
      // A guest that got to the kernel can still die in its first seconds: give it a few more.
      if (ok && (await vm.alive(5_000))) {
        log("vm: KVM");
        return vm;
      }
      log(`vm: KVM probe failed (${vm.stderr().trim().split("\n").slice(-1)[0] ?? "no kernel banner"}), using TCG`);
      await vm.kill();
      copyFileSync(FIRMWARE[arch].vars, join(opts.dir, "vars.fd"));
      if (!opts.reuseDisk) {
        rmSync(join(opts.dir, "disk.qcow2"), { force: true });
        spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", opts.image, "-F", "raw", join(opts.dir, "disk.qcow2"), opts.diskSize ?? "6G"]);
      }
    }
    log("vm: TCG");
    return Vm.spawn(opts, ports, "tcg");
  }

  private static spawn(opts: VmOptions, ports: Forwards, accel: "kvm" | "tcg"): Vm {
    const arch = opts.arch ?? "x64";
    const dir = opts.dir;
    rmSync(join(dir, "console.log"), { force: true });
    rmSync(join(dir, "shell.sock"), { force: true });
    const fwd = `hostfwd=tcp:127.0.0.1:${ports.http}-:8080,hostfwd=tcp:127.0.0.1:${ports.admin}-:8443,hostfwd=tcp:127.0.0.1:${ports.rtmp}-:1935`;
    const common = [
      "-smp", "2", "-m", String(opts.memoryMiB ?? 1024), "-nographic", "-monitor", "none",
      "-drive", `if=pflash,format=raw,readonly=on,file=${FIRMWARE[arch].code}`,
      "-drive", `if=pflash,format=raw,file=${join(dir, "vars.fd")}`,
      "-drive", `file=${join(dir, "disk.qcow2")},if=virtio,format=qcow2`,
      "-netdev", `user,id=n0,restrict=on,${fwd}`, "-device", "virtio-net-pci,netdev=n0",
      ...(opts.drives ?? []).flatMap((f) => ["-drive", `file=${f},if=virtio,format=raw,readonly=on`]),
      "-serial", `file:${join(dir, "console.log")}`,
      // The debug shell: the second serial port on x64; the virt board has one UART, so a virtio console on arm64.
      ...(arch === "x64"
        ? ["-serial", `unix:${join(dir, "shell.sock")},server=on,wait=off`]
        : ["-device", "virtio-serial-pci", "-chardev", `socket,id=shell,path=${join(dir, "shell.sock")},server=on,wait=off`, "-device", "virtconsole,chardev=shell"]),
    ];
    const args = arch === "x64"
      ? ["-machine", "q35", "-accel", accel, "-cpu", accel === "kvm" ? "host" : "max", ...common]
      : ["-machine", "virt", "-accel", "tcg", "-cpu", "cortex-a72", ...common];
    const proc = spawn(arch === "x64" ? "qemu-system-x86_64" : "qemu-system-aarch64", args, { stdio: ["ignore", "ignore", "pipe"] });
    const vm = new Vm(proc, opts, ports, accel);
    proc.stderr?.setEncoding("utf8").on("data", (d: string) => { vm.err += d; });
    return vm;
  }

  private err = "";

  /** qemu's stderr so far. */
  stderr(): string {
    return this.err;
  }

  /** Whether qemu is still running after `ms`. */
  async alive(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The serial console so far. */
  consoleText(): string {
    return existsSync(this.console) ? readFileSync(this.console, "utf8") : "";
  }

  /** Wait until the console matches `re`; returns the match. */
  async waitConsole(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.consoleText().match(re);
      if (m) return m;
      if (this.proc.exitCode !== null) throw new Error(`qemu exited (${this.proc.exitCode}): ${this.err.slice(-500)}`);
      if (Date.now() > end) throw new Error(`console did not show ${re} within ${ms} ms; last lines:\n${this.consoleText().split("\n").slice(-15).join("\n")}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async openShell(ms: number): Promise<void> {
    if (this.shell) return;
    const end = Date.now() + ms;
    for (;;) {
      try {
        this.shell = await new Promise<Socket>((res, rej) => {
          const s = connect(join(this.opts.dir, "shell.sock"), () => res(s));
          s.once("error", rej);
        });
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    this.shell.setEncoding("utf8");
    this.shell.on("data", (d: string) => {
      this.shellBuf += d;
      if (this.shellBuf.length > 4 << 20) this.shellBuf = this.shellBuf.slice(-(1 << 20));
    });
    // The getty logs root in by itself once the system is up; poke it until a marker comes back.
    for (;;) {
      this.shell.write("\nstty -echo; export TERM=dumb PS1= PAGER=cat SYSTEMD_PAGER= SYSTEMD_COLORS=0; printf '__%s__\\n' READY\n");
      const t = Date.now() + 5_000;
      while (Date.now() < t && !this.shellBuf.includes("__READY__")) await new Promise((r) => setTimeout(r, 200));
      if (this.shellBuf.includes("__READY__")) break;
      if (Date.now() > end) throw new Error(`debug shell did not answer within ${ms} ms`);
    }
    this.shellBuf = "";
  }

  /** Reboot the guest (qemu stays up, the forwards with it); the next sh() waits for the new boot's shell. */
  async reboot(): Promise<void> {
    await this.openShell(60_000);
    // Written before the socket is closed: destroy() at once dropped the command, and the guest never rebooted.
    const shell = this.shell!;
    await new Promise<void>((res, rej) => shell.write("systemctl reboot\n", (e) => (e ? rej(e) : res())));
    shell.end();
    this.shell = undefined;
    // The old system takes a moment to go down; do not mistake it for the new one.
    await new Promise((r) => setTimeout(r, 20_000));
  }

  /** Power the guest off cleanly and wait for qemu to exit (the disk stays for a boot with `reuseDisk`). */
  async poweroff(ms = 120_000): Promise<void> {
    await this.openShell(60_000);
    const shell = this.shell!;
    await new Promise<void>((res, rej) => shell.write("systemctl poweroff\n", (e) => (e ? rej(e) : res())));
    await this.exited(ms);
    shell.destroy();
    this.shell = undefined;
  }

  /**
   * Poll a forwarded HTTP path (`/readyz`) until it answers 200; returns the milliseconds since `from`. A failure
   * carries the console's last lines and qemu's stderr, so a boot that hung says where.
   */
  async waitHttp(path: string, from: number, ms: number): Promise<number> {
    const url = `http://127.0.0.1:${this.ports.http}${path}`;
    const end = from + ms;
    const fail = (why: string) => new Error(`${url} ${why}\nconsole, last lines:\n${this.consoleText().split("\n").slice(-40).join("\n")}\nqemu stderr: ${this.err.slice(-500)}`);
    for (;;) {
      const last = await get(url, 3_000);
      if (last?.status === 200) return Date.now() - from;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw fail(`never answered 200: qemu exited (${this.proc.exitCode ?? this.proc.signalCode})`);
      if (Date.now() > end) throw fail(`not 200 within ${ms} ms (last: ${last ? `${last.status} ${last.body.slice(0, 300)}` : "no answer"})`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  /** Run a shell command as root in the guest; resolves with its output and exit status. */
  async sh(cmd: string, ms = 120_000): Promise<{ out: string; code: number }> {
    await this.openShell(ms);
    const n = ++this.seq;
    this.shellBuf = "";
    // The markers are printed with printf so that the echoed command line (if any) does not contain them.
    this.shell!.write(`printf '__%s_${n}__\\n' BEGIN; ( ${cmd} ) 2>&1 </dev/null; printf '__%s_${n}__ %d\\n' END $?\n`);
    const end = Date.now() + ms;
    const re = new RegExp(`__BEGIN_${n}__\\r?\\n([\\s\\S]*?)__END_${n}__ (\\d+)`);
    for (;;) {
      const m = this.shellBuf.match(re);
      if (m) return { out: m[1]!.replace(/\r/g, ""), code: Number(m[2]) };
      if (Date.now() > end) throw new Error(`guest command timed out after ${ms} ms: ${cmd}\n${this.shellBuf.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Wait for qemu to exit (a guest poweroff or reboot with -no-reboot). */
  async exited(ms: number): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`qemu still running after ${ms} ms`)), ms);
      this.proc.once("exit", () => { clearTimeout(t); res(); });
    });
  }

  /** Stop qemu. */
  async kill(): Promise<void> {
    this.shell?.destroy();
    this.shell = undefined;
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const done = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
    await done;
    clearTimeout(t);
  }
}

/** The sha256 an image build recorded beside `file` (FILE.sha256) and the one its bytes have now. */
export function sha256s(file: string): { recorded: string | undefined; actual: string | undefined } {
  return {
    recorded: readFileSync(`${file}.sha256`, "utf8").split(/\s+/)[0],
    actual: spawnSync("sha256sum", [file], { encoding: "utf8" }).stdout.split(/\s+/)[0],
  };
}

/** GET a URL; resolves with status and body, or null when nothing answered. */
export async function get(url: string, ms = 5_000): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(ms) });
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}

/** Poll `url` until it answers 200; returns the milliseconds since `from`. */
export async function waitOk(url: string, from: number, ms: number): Promise<number> {
  const end = from + ms;
  let last: { status: number; body: string } | null = null;
  for (;;) {
    last = await get(url, 3_000);
    if (last?.status === 200) return Date.now() - from;
    if (Date.now() > end) throw new Error(`${url} not 200 within ${ms} ms (last: ${last ? `${last.status} ${last.body.slice(0, 300)}` : "no answer"})`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
