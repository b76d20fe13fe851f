// Disk layout of the SlowDrip image: boot FAT, root slots A and B, data; partition UUIDs and kernel command lines.
//
// The identifiers are fixed, so that every copy of the image and every update agree on them (like Debian's raspi
// images). GPT on x64 (OVMF and PCs), MBR on arm64 (the Raspberry Pi firmware; UEFI on qemu's virt board reads it too).

/** File system UUIDs (mkfs.ext4 -U). */
export const PART_UUID = {
  fsA: "5d0d0a00-5d0d-4a00-8a00-5d0d0a000a0a",
  fsB: "5d0d0b00-5d0d-4b00-8b00-5d0d0b000b0b",
  fsData: "5d0d0d00-5d0d-4d00-8d00-5d0d0d000d0d",
};

const GPT = {
  disk: "5D0D0000-5D0D-4000-8000-5D0D00000000",
  boot: "5d0d0001-5d0d-4001-8001-5d0d00000001",
  a: "5d0d0002-5d0d-4002-8002-5d0d00000002",
  b: "5d0d0003-5d0d-4003-8003-5d0d00000003",
  data: "5d0d0004-5d0d-4004-8004-5d0d00000004",
};
const MBR_ID = "51d0d21f";

const ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX_TYPE = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/** Partitions in disk order: the data partition is last, so that first boot can grow it to the medium. */
const PARTS = [
  { name: "boot", label: "ESP", sizeMiB: 256 },
  { name: "a", label: "slowdrip-a", sizeMiB: 1280 },
  { name: "b", label: "slowdrip-b", sizeMiB: 1280 },
  { name: "data", label: "slowdrip-data", sizeMiB: 256 },
];

/** The layout for an arch: partitions with offsets, PARTUUIDs, sfdisk input and the kernel command line of a slot. */
export function layout(arch) {
  let at = 1;
  const parts = PARTS.map((p, i) => {
    const out = { ...p, index: i + 1, startMiB: at };
    at += p.sizeMiB;
    return out;
  });
  const totalMiB = at + 1; // 1 MiB for the backup GPT
  const uuid = arch === "x64"
    ? { boot: GPT.boot, a: GPT.a, b: GPT.b, data: GPT.data }
    : Object.fromEntries(parts.map((p) => [p.name, `${MBR_ID}-0${p.index}`]));
  const console = arch === "x64" ? "console=tty0 console=ttyS0,115200" : "console=tty1 console=ttyAMA0,115200";
  return {
    arch,
    parts,
    totalMiB,
    uuid,
    efiArch: arch === "x64" ? "x64" : "aa64",
    part: (name) => parts.find((p) => p.name === name),
    cmdline: (slot) => `root=PARTUUID=${uuid[slot]} rw rootwait ${console} panic=10 slowdrip.slot=${slot}`,
    sfdisk() {
      if (arch === "x64") {
        return [
          "label: gpt", `label-id: ${GPT.disk}`, "unit: sectors", "",
          ...parts.map((p) => `start=${p.startMiB * 2048}, size=${p.sizeMiB * 2048}, type=${p.name === "boot" ? ESP_TYPE : LINUX_TYPE}, uuid=${GPT[p.name]}, name="${p.label}"`),
          "",
        ].join("\n");
      }
      return [
        "label: dos", `label-id: 0x${MBR_ID}`, "unit: sectors", "",
        ...parts.map((p) => `start=${p.startMiB * 2048}, size=${p.sizeMiB * 2048}, type=${p.name === "boot" ? "c" : "83"}${p.name === "boot" ? ", bootable" : ""}`),
        "",
      ].join("\n");
    },
  };
}
