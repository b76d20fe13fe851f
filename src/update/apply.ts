// `slowdrip update apply|status|gate` on the appliance image: verify a bundle, write the inactive slot, arm its boot
// entry with a boot counter, report slots, and gate a trial boot on /readyz.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync, createReadStream } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { readHeader, UpdateError, verifyManifest, type Manifest } from "./bundle.ts";
import { entryState, entryText, optionsFor, otherSlot, parseEntry, SLOT_PARTUUID, slotFromCmdline, type Entry, type Slot } from "./slots.ts";

/** Where the system's parts are; the defaults are the image's. */
export interface System {
  esp: string;
  cmdline: string;
  arch: "x64" | "arm64";
  /** The booted slot's software version. */
  version: string;
  /** Block device of a slot. */
  device: (slot: Slot) => string;
  /** Size of a slot's device in bytes. */
  deviceSize: (slot: Slot) => number;
  /** Booted through UEFI (systemd-boot starts the slots); a Raspberry Pi's firmware boots config.txt's kernel instead. */
  uefi: boolean;
}

/** The running image's system, read from /proc, /efi and /usr/lib/slowdrip-image. */
export function imageSystem(): System {
  const arch = readFileSync("/usr/lib/slowdrip-image/arch", "utf8").trim() as "x64" | "arm64";
  const device = (slot: Slot) => `/dev/disk/by-partuuid/${SLOT_PARTUUID[arch][slot]}`;
  return {
    esp: "/efi",
    cmdline: readFileSync("/proc/cmdline", "utf8"),
    arch,
    version: readFileSync("/usr/lib/slowdrip-image/version", "utf8").trim(),
    device,
    deviceSize: (slot) => Number(execFileSync("blockdev", ["--getsize64", device(slot)], { encoding: "utf8" }).trim()),
    uefi: existsSync("/sys/firmware/efi"),
  };
}

/** Flushes a file (or a directory's entries) to the medium: a power cut after apply must not lose or tear them. */
function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `path` with `text` so that a power cut leaves the old file or the new one, never an empty one. The file is
 * flushed again after the rename: on FAT (the ESP) a rename writes a new directory entry whose size and first cluster
 * reach the medium only with the file's own flush, and a flush of the directory alone leaves an empty file.
 */
function writeDurably(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncPath(path);
  syncPath(dirname(path));
}

/** The slot entries on the ESP. */
export function readEntries(esp: string): Entry[] {
  const dir = join(esp, "loader/entries");
  if (!existsSync(dir)) return [];
  const out: Entry[] = [];
  for (const f of readdirSync(dir)) {
    const e = parseEntry(f, readFileSync(join(dir, f), "utf8"));
    if (e) out.push(e);
  }
  return out;
}

interface State { last?: { version: string; slot: Slot; applied_at: string; from_slot: Slot; from_version: string } }

function readState(esp: string): State {
  try {
    return JSON.parse(readFileSync(join(esp, "slowdrip/update.json"), "utf8")) as State;
  } catch {
    return {};
  }
}

/** What `slowdrip update status` shows. */
export function status(sys: System): Record<string, unknown> {
  const booted = slotFromCmdline(sys.cmdline);
  const entries = readEntries(sys.esp);
  const slots = (["a", "b"] as Slot[]).map((slot) => {
    const e = entries.find((x) => x.slot === slot);
    return { slot, booted: slot === booted, version: e?.version ?? null, state: e ? entryState(e) : "empty", entry: e?.file ?? null, generation: e?.generation ?? null };
  });
  const st = readState(sys.esp);
  let result: string | null = null;
  if (st.last) {
    const target = slots.find((s) => s.slot === st.last!.slot)!;
    if (booted === st.last.slot) result = target.state === "good" ? `${st.last.version} booted and is marked good` : `${st.last.version} booted, on trial (not yet marked good)`;
    else if (target.state === "bad") result = `${st.last.version} failed its trial boot; rolled back to slot ${booted?.toUpperCase() ?? "?"}`;
    else result = `${st.last.version} written to slot ${st.last.slot.toUpperCase()}, boots next`;
  }
  return { booted_slot: booted, booted_version: sys.version, arch: sys.arch, slots, last_update: st.last ?? null, last_result: result };
}

/** Opens a bundle from a file path (or a block device holding one) or an http(s) URL as a byte stream. */
async function openSource(src: string, limit: number, timeoutMs: number): Promise<AsyncIterable<Uint8Array>> {
  if (/^https?:\/\//.test(src)) {
    const res = await fetch(src, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
    if (res.status !== 200 || !res.body) throw new UpdateError(`GET ${src}: HTTP ${res.status}`);
    const len = Number(res.headers.get("content-length") ?? "0");
    if (len > limit) throw new UpdateError(`${src} is ${len} bytes, more than any bundle (${limit})`);
    return Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>);
  }
  if (!existsSync(src)) throw new UpdateError(`${src}: no such file`);
  return createReadStream(src, { highWaterMark: 1 << 20 });
}

/**
 * Verifies a bundle and writes it to the inactive slot, then arms that slot's boot entry with one try. Nothing that
 * decides the next boot changes until the payload's sha256 has been checked: the inactive slot's old entry is
 * removed before its partition is overwritten, the new entry is written only after the payload matched.
 */
export async function apply(src: string, sys: System, opts: { trustedKeys: readonly string[]; tries?: number; timeoutMs?: number; log?: (s: string) => void }): Promise<Manifest> {
  const log = opts.log ?? (() => {});
  const booted = slotFromCmdline(sys.cmdline);
  if (!booted) throw new UpdateError("not running from an image slot (no slowdrip.slot= on the kernel command line)");
  // systemd-boot's entries decide the next boot only where UEFI starts systemd-boot. A Pi's firmware reads
  // config.txt (os_prefix names slot A), so an update written here would never boot: refused before anything changes.
  if (!sys.uefi) throw new UpdateError("A/B updates need a UEFI boot (systemd-boot starts the slots); this system booted without UEFI, as a Raspberry Pi does from config.txt: write the new image to the card instead");
  const target = otherSlot(booted);
  const slotSize = sys.deviceSize(target);
  const stream = await openSource(src, slotSize + 64 * 1024, opts.timeoutMs ?? 30 * 60_000);
  const it = stream[Symbol.asyncIterator]();
  let head = new Uint8Array(0);
  let parsed: ReturnType<typeof readHeader> = null;
  while (!parsed) {
    const { value, done } = await it.next();
    if (done) throw new UpdateError("bundle ends inside its header");
    const merged = new Uint8Array(head.length + value.length);
    merged.set(head);
    merged.set(value, head.length);
    head = merged;
    parsed = readHeader(head);
  }
  const m = parsed.manifest;
  verifyManifest(m, { trustedKeys: opts.trustedKeys, arch: sys.arch, slotSize });
  log(`bundle ${m.version} (${m.arch}, ${m.payload_size} bytes) signed by ${m.key}: writing slot ${target.toUpperCase()}`);
  // The inactive slot stops being bootable before a byte of it changes.
  for (const e of readEntries(sys.esp)) if (e.slot === target) rmSync(join(sys.esp, "loader/entries", e.file));
  if (existsSync(join(sys.esp, "loader/entries"))) syncPath(join(sys.esp, "loader/entries"));
  const fd = openSync(sys.device(target), "r+");
  const hash = createHash("sha256");
  let written = 0;
  try {
    // Reading stops at payload_size: what follows (a block device's padding, trailing junk) is not read at all.
    const put = (whole: Uint8Array) => {
      const chunk = whole.subarray(0, m.payload_size - written);
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, written + off);
      written += chunk.length;
    };
    put(head.subarray(parsed.payloadOffset));
    while (written < m.payload_size) {
      const { value, done } = await it.next();
      if (done) break;
      put(value);
    }
    await it.return?.();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (written !== m.payload_size) throw new UpdateError(`bundle payload is ${written} bytes, not ${m.payload_size}; slot ${target.toUpperCase()} left unbootable`);
  const sum = hash.digest("hex");
  if (sum !== m.payload_sha256) throw new UpdateError(`bundle payload sha256 is ${sum}, not ${m.payload_sha256}; slot ${target.toUpperCase()} left unbootable`);
  // Kernel and initramfs from the written slot (debugfs reads the ext4 file system without mounting it).
  const dev = sys.device(target);
  const kver = execFileSync("debugfs", ["-R", "cat /usr/lib/slowdrip-image/kernel", dev], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  if (!/^[0-9A-Za-z.+_-]{1,64}$/.test(kver)) throw new UpdateError(`slot ${target.toUpperCase()} names no kernel (/usr/lib/slowdrip-image/kernel)`);
  const kdir = join(sys.esp, `slowdrip-${target}`);
  mkdirSync(kdir, { recursive: true });
  syncPath(sys.esp); // a new directory's entry is in its parent's
  for (const [from, to] of [[`/boot/vmlinuz-${kver}`, "vmlinuz"], [`/boot/initrd.img-${kver}`, "initrd.img"]] as const) {
    rmSync(join(kdir, `${to}.new`), { force: true });
    execFileSync("debugfs", ["-R", `dump ${from} ${join(kdir, `${to}.new`)}`, dev], { stdio: ["ignore", "ignore", "ignore"] });
    if (!existsSync(join(kdir, `${to}.new`))) throw new UpdateError(`slot ${target.toUpperCase()} has no ${from}`);
    syncPath(join(kdir, `${to}.new`));
    renameSync(join(kdir, `${to}.new`), join(kdir, to));
    syncPath(join(kdir, to));
  }
  syncPath(kdir);
  const entries = readEntries(sys.esp);
  const cur = entries.find((e) => e.slot === booted);
  const generation = Math.max(0, ...entries.map((e) => e.generation)) + 1;
  const options = optionsFor(cur?.options ?? sys.cmdline.trim(), target, SLOT_PARTUUID[sys.arch][target]);
  const tries = opts.tries ?? 1;
  const file = join(sys.esp, "loader/entries", `slowdrip-${target}+${tries}.conf`);
  mkdirSync(join(sys.esp, "slowdrip"), { recursive: true });
  syncPath(sys.esp);
  const state: State = { last: { version: m.version, slot: target, applied_at: new Date().toISOString(), from_slot: booted, from_version: sys.version } };
  // The state first, then the entry that makes the slot boot: a power cut in between leaves the old boot as it was.
  writeDurably(join(sys.esp, "slowdrip/update.json"), `${JSON.stringify(state)}\n`);
  writeDurably(file, entryText({ slot: target, version: m.version, generation, options }));
  log(`slot ${target.toUpperCase()} holds ${m.version}; it boots next, on trial (${tries} try) until /readyz is green`);
  return m;
}

/** Whether the booted entry is on trial: systemd-boot set LoaderBootCountPath for it. */
export function onTrial(efivars = "/sys/firmware/efi/efivars"): boolean {
  return existsSync(join(efivars, "LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"));
}
