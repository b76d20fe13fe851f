// A/B slots of the appliance image: which slot booted, the systemd-boot entries on the ESP (with boot counters), and
// the pure parsing behind them. Paths are parameters so that tests can point them at a directory.

/** Partition UUIDs of the root slots, as image/layout.mjs writes them (test/image/layout.test.ts keeps them equal). */
export const SLOT_PARTUUID: Record<"x64" | "arm64", Record<Slot, string>> = {
  x64: { a: "5d0d0002-5d0d-4002-8002-5d0d00000002", b: "5d0d0003-5d0d-4003-8003-5d0d00000003" },
  arm64: { a: "51d0d21f-02", b: "51d0d21f-03" },
};

export type Slot = "a" | "b";

/** The other slot. */
export function otherSlot(s: Slot): Slot {
  return s === "a" ? "b" : "a";
}

/** The booted slot named on the kernel command line (slowdrip.slot=a|b), or null outside the image. */
export function slotFromCmdline(cmdline: string): Slot | null {
  const m = cmdline.match(/(?:^|\s)slowdrip\.slot=([ab])(?=\s|$)/);
  return m ? (m[1] as Slot) : null;
}

/** A boot entry of a slot: slowdrip-<slot>[+LEFT[-DONE]].conf (systemd-boot's boot counting names). */
export interface Entry {
  file: string;
  slot: Slot;
  /** Tries left; undefined when the entry carries no counter (blessed, or never on trial). */
  triesLeft?: number;
  triesDone?: number;
  /** Boot generation (the entry's `version`, which systemd-boot sorts by, newest first). */
  generation: number;
  /** Software version, from the entry's title. */
  version: string;
  options: string;
}

/** good: blessed; trial: counter left > 0; bad: counter spent, systemd-boot will not pick it while another exists. */
export function entryState(e: Entry): "good" | "trial" | "bad" {
  if (e.triesLeft === undefined) return "good";
  return e.triesLeft > 0 ? "trial" : "bad";
}

/** Parses an entry file name; null for files that are not slot entries. */
export function parseEntryName(file: string): { slot: Slot; triesLeft?: number; triesDone?: number } | null {
  const m = file.match(/^slowdrip-([ab])(?:\+(\d{1,3})(?:-(\d{1,3}))?)?\.conf$/);
  if (!m) return null;
  return { slot: m[1] as Slot, ...(m[2] !== undefined ? { triesLeft: Number(m[2]) } : {}), ...(m[3] !== undefined ? { triesDone: Number(m[3]) } : {}) };
}

/** Parses an entry's text (bounded: at most 4 KiB are looked at). */
export function parseEntry(file: string, text: string): Entry | null {
  const name = parseEntryName(file);
  if (!name) return null;
  const fields = new Map<string, string>();
  for (const line of text.slice(0, 4096).split("\n")) {
    const m = line.match(/^(\w+)\s+(.*)$/);
    if (m) fields.set(m[1]!, m[2]!.trim());
  }
  const generation = Number(fields.get("version") ?? "0");
  const version = (fields.get("title") ?? "").match(/^SlowDrip (\S+)/)?.[1] ?? "unknown";
  return { file, ...name, generation: Number.isSafeInteger(generation) ? generation : 0, version, options: fields.get("options") ?? "" };
}

/** The text of a slot's entry. */
export function entryText(o: { slot: Slot; version: string; generation: number; options: string }): string {
  return [
    `title SlowDrip ${o.version} (slot ${o.slot.toUpperCase()})`,
    "sort-key slowdrip",
    `version ${o.generation}`,
    `linux /slowdrip-${o.slot}/vmlinuz`,
    `initrd /slowdrip-${o.slot}/initrd.img`,
    `options ${o.options}`,
    "",
  ].join("\n");
}

/** The kernel options of `slot`, made from the booted slot's options (root=PARTUUID and slowdrip.slot swapped). */
export function optionsFor(current: string, slot: Slot, partuuid: string): string {
  let o = current.replace(/(^|\s)root=\S+/, `$1root=PARTUUID=${partuuid}`).replace(/(^|\s)slowdrip\.slot=[ab]/, `$1slowdrip.slot=${slot}`);
  if (!/(^|\s)root=/.test(o)) o = `root=PARTUUID=${partuuid} ${o}`;
  if (!/(^|\s)slowdrip\.slot=/.test(o)) o = `${o} slowdrip.slot=${slot}`;
  return o.trim();
}
