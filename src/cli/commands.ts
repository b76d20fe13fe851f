// The command table: one line per command, with its summary for `slowdrip --help`. Each command lives in its own
// file and is loaded only when it runs: a short command (keygen, hash, config check, update gate) evaluates its own
// code, not the node's, which counts on a slow board at first boot.
import type { Command } from "./command.ts";

/** A command of the table: its name and summary, and how to load it. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const commands: CommandEntry[] = [
  { name: "run", summary: "run the node (the default command)", load: async () => (await import("./run.ts")).runCommand },
  { name: "status", summary: "show a running node's status (GetStatus over RPC)", load: async () => (await import("./status.ts")).statusCommand },
  { name: "blob", summary: "store, fetch and manage blobs on a running node", load: async () => (await import("./blob.ts")).blobCommand },
  { name: "wallet", summary: "the node's Cashu wallet: balances, tokens, mints, swaps, ledger", load: async () => (await import("./wallet.ts")).walletCommand },
  { name: "keygen", summary: "create a node keypair in a directory and print the node id", load: async () => (await import("./keygen.ts")).keygenCommand },
  { name: "backup", summary: "write the node identity and wallet to slowdrip-backup-<UTC timestamp>.tar.gz (encrypted: .tar.gz.enc)", load: async () => (await import("./backup.ts")).backupCommand },
  { name: "restore", summary: "restore the node identity and wallet from a backup archive", load: async () => (await import("./backup.ts")).restoreCommand },
  { name: "config", summary: "print the effective config (print), the commented sample (sample), or validate (check)", load: async () => (await import("./config.ts")).configCommand },
  { name: "hash", summary: "BLAKE3 of files (b3sum format), optionally writing a Bao outboard", load: async () => (await import("./hash.ts")).hashCommand },
  { name: "bao", summary: "extract and verify Bao slices (verified streaming)", load: async () => (await import("./bao.ts")).baoCommand },
  { name: "token", summary: "issue a publish/read token (EdDSA JWT) for a live path", load: async () => (await import("./token.ts")).tokenCommand },
  { name: "creator", summary: "make a creator key, a delegation letting a node sign a stream's manifests, or a signed announce", load: async () => (await import("./creator.ts")).creatorCommand },
  { name: "stream", summary: "verify a live stream (signatures, delegation, Merkle root, segment hashes), or watch it signing receipts", load: async () => (await import("./stream.ts")).streamCommand },
  { name: "vrf", summary: "ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) prove and verify", load: async () => (await import("./vrf.ts")).vrfCommand },
  { name: "receipts", summary: "verify service-receipt batch files; list, get and summarise a node's receipt batches", load: async () => (await import("./receipts.ts")).receiptsCommand },
  { name: "file", summary: "store, read and manage files in the storage cluster", load: async () => (await import("./file.ts")).fileCommand },
  { name: "film", summary: "add, list, remove and republish films (HLS renditions as pinned blobs, announced on Nostr)", load: async () => (await import("./film.ts")).filmCommand },
  { name: "cluster", summary: "the storage cluster: status (as its validator sees it), place (placement diagnostic)", load: async () => (await import("./cluster.ts")).clusterCommand },
  { name: "bench", summary: "measure what this box can do (hashing, erasure coding, store, HTTP, ingest, disk)", load: async () => (await import("./bench.ts")).benchCommand },
  { name: "update", summary: "A/B updates of the appliance image: sign a bundle, apply it to the inactive slot, show slots", load: async () => (await import("./update.ts")).updateCommand },
  { name: "version", summary: "print the version", load: async () => (await import("./version.ts")).versionCommand },
];
