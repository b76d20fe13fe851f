// The binding tag: ties a Nostr pubkey to a node's Ed25519 id, so that peers know which node signed an event.
import { sign, verify } from "../identity/ed25519.ts";
import { hex, unhex } from "../identity/hex.ts";
import { EventRejected } from "./errors.ts";
import { verifiedBindings } from "./verified.ts";

/** Name of the binding tag: `["slowdrip", <node id: 64 hex>, <Ed25519 signature: 128 hex>]`. */
export const BINDING_TAG = "slowdrip";
/** Domain-separation prefix of the signed message; the message is this prefix followed by the Nostr pubkey (hex). */
export const BINDING_PREFIX = "slowdrip-nostr-binding-v1:";

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;

function message(nostrPubkey: string): Uint8Array {
  return new TextEncoder().encode(`${BINDING_PREFIX}${nostrPubkey}`);
}

/** The binding tag for `nostrPubkey`, signed with the node's Ed25519 secret seed. */
export function bindingTag(nodeId: string, nodeSecret: Uint8Array, nostrPubkey: string): string[] {
  return [BINDING_TAG, nodeId, hex(sign(message(nostrPubkey), nodeSecret))];
}

/**
 * Checks an event's binding tag (exactly one) against its pubkey and returns the node id it names.
 * Throws EventRejected("binding") when it is missing, malformed or its signature does not verify.
 */
export function verifyBinding(event: { pubkey: string; tags: string[][] }): string {
  const tags = event.tags.filter((t) => t[0] === BINDING_TAG);
  if (tags.length !== 1) throw new EventRejected("binding", `expected one ${BINDING_TAG} tag, found ${tags.length}`);
  const [, nodeId, sig] = tags[0]!;
  if (typeof nodeId !== "string" || !HEX64.test(nodeId) || typeof sig !== "string" || !HEX128.test(sig)) {
    throw new EventRejected("binding", `malformed ${BINDING_TAG} tag`);
  }
  const memo = `${event.pubkey}${nodeId}${sig}`;
  if (verifiedBindings.has(memo)) return nodeId;
  let ok = false;
  try {
    ok = verify(unhex(sig, 64), message(event.pubkey), unhex(nodeId, 32));
  } catch {
    ok = false;
  }
  if (ok) verifiedBindings.add(memo);
  if (!ok) throw new EventRejected("binding", `the ${BINDING_TAG} tag's signature does not verify for node ${nodeId}`);
  return nodeId;
}
