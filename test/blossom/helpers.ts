// Helpers of the Blossom tests: Nostr keys and signers (nostr-tools, as a Nostr app signs), raw authorization headers
// for the bad-input cases, and small HTTP helpers.
import { createHash } from "node:crypto";
import { finalizeEvent, generateSecretKey, getPublicKey, type EventTemplate } from "nostr-tools/pure";
import type { SignedEvent, Signer } from "blossom-client-sdk";
import type { SpawnedNode } from "../helpers/node.ts";

/** A Nostr identity: secret key, hex pubkey and a blossom-client-sdk signer. */
export interface NostrUser {
  sk: Uint8Array;
  pubkey: string;
  signer: Signer;
}

/** A fresh Nostr identity. */
export function nostrUser(): NostrUser {
  const sk = generateSecretKey();
  return { sk, pubkey: getPublicKey(sk), signer: async (draft) => finalizeEvent({ ...draft }, sk) as unknown as SignedEvent };
}

export const sha256Hex = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
export const now = (): number => Math.floor(Date.now() / 1000);

/** Options of a hand-made authorization event. */
export interface AuthOptions {
  t?: string;
  x?: string[];
  server?: string[];
  /** Unix seconds; null leaves the tag out. */
  expiration?: number | null;
  createdAt?: number;
  kind?: number;
  content?: string;
  extraTags?: string[][];
}

/** A signed kind 24242 event. */
export function authEvent(user: NostrUser, o: AuthOptions = {}): Record<string, unknown> {
  const tags: string[][] = [["t", o.t ?? "upload"]];
  if (o.expiration !== null) tags.push(["expiration", String(o.expiration ?? now() + 600)]);
  for (const x of o.x ?? []) tags.push(["x", x]);
  for (const s of o.server ?? []) tags.push(["server", s]);
  tags.push(...(o.extraTags ?? []));
  const t: EventTemplate = { kind: o.kind ?? 24242, created_at: o.createdAt ?? now() - 5, content: o.content ?? "Upload Blob", tags };
  return { ...finalizeEvent(t, user.sk) };
}

/** `Nostr <token>` for an event, as base64url without padding (BUD-11) or standard padded base64. */
export function authHeader(event: unknown, encoding: "base64url" | "base64" = "base64url"): string {
  return `Nostr ${Buffer.from(JSON.stringify(event)).toString(encoding)}`;
}

/** Stops a spawned `slowdrip run` with SIGTERM and waits for it to exit (nothing to do when it already has). */
export async function stopNode(n: SpawnedNode | undefined): Promise<void> {
  if (!n || n.child.exitCode !== null || n.child.signalCode !== null) return;
  const exited = new Promise((r) => n.child.once("exit", r));
  n.child.kill("SIGTERM");
  await exited;
}
