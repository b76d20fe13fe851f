// Proof of presence: each presence epoch the verifier publishes a nonce; a node computes the ECVRF of
// ("slowdrip presence v1" || epoch || nonce) under its node key, whose output sets its randomized heartbeat offset inside
// the epoch; at that offset it sends the VRF proof plus a signature over its measured RTT to the verifier. The verifier
// checks epoch window, nonce, VRF, signature and offset, and refuses a second proof of the same epoch by its nullifier
// BLAKE3(beta), kept in LMDB so that a restart does not forget it.
import type { Database, RootDatabase } from "lmdb";
import { blake3, deriveKey, fromHex, keyedHash, toHex } from "../wasm/index.ts";
import { signStatement, verifyStatement } from "./sign.ts";
import { proofToHash, VrfError, VrfProver, vrfVerify, PROOF_LEN } from "./vrf.ts";

/** The VRF input of an epoch: utf8("slowdrip presence v1") || u64 big-endian epoch || 32-byte verifier nonce. */
export function presenceAlpha(epoch: number, nonce: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode("slowdrip presence v1");
  const out = new Uint8Array(head.length + 8 + nonce.length);
  out.set(head, 0);
  new DataView(out.buffer).setBigUint64(head.length, BigInt(epoch));
  out.set(nonce, head.length + 8);
  return out;
}

/** The heartbeat offset a VRF output sets: its first 6 bytes (little-endian) modulo three quarters of the epoch. */
export function heartbeatOffset(beta: Uint8Array, epochMs: number): number {
  let v = 0;
  for (let i = 5; i >= 0; i--) v = v * 256 + beta[i]!;
  return v % Math.max(1, Math.floor((epochMs * 3) / 4));
}

/** The nullifier of a VRF output: BLAKE3(beta), hex. */
export function nullifierOf(beta: Uint8Array): string {
  return toHex(blake3(beta));
}

/** What a verifier publishes for an epoch. */
export interface PresenceChallenge {
  epoch: number;
  startMs: number;
  epochMs: number;
  nonce: Uint8Array;
  verifier: string;
  serverMs: number;
}

/** A presence proof as sent. */
export interface PresenceProof {
  epoch: number;
  nonce: Uint8Array;
  /** 80-byte ECVRF proof. */
  pi: Uint8Array;
  rttMs: number;
  /** Ed25519 over the PRESENCE statement. */
  signature: Uint8Array;
}

/** An accepted proof. */
export interface PresenceRecordData {
  node: string;
  epoch: number;
  offsetMs: number;
  rttMs: number;
  receivedMs: number;
  nullifier: string;
  pi: string;
  signature: string;
}

/** Why a presence proof was refused. */
export type PresenceFailure = "not-allowed" | "malformed" | "wrong-epoch" | "wrong-nonce" | "early" | "bad-vrf" | "bad-signature" | "duplicate" | "busy";

/** A refused presence proof. */
export class PresenceError extends Error {
  readonly reason: PresenceFailure;
  constructor(reason: PresenceFailure, message: string, options?: { cause?: unknown }) {
    super(`${reason}: ${message}`, options);
    this.name = "PresenceError";
    this.reason = reason;
  }
}

function statementBody(node: string, verifier: string, p: Omit<PresenceProof, "signature">): Record<string, unknown> {
  return { type: "PRESENCE", v: 1, node, verifier, epoch: p.epoch, nonce: toHex(p.nonce), pi: toHex(p.pi), rtt_ms: p.rttMs };
}

/** Builds a signed presence proof for a verifier's epoch. */
export function makePresenceProof(prover: VrfProver, secret: Uint8Array, node: string, ch: PresenceChallenge, rttMs: number): { proof: PresenceProof; offsetMs: number } {
  const { pi, beta } = prover.prove(presenceAlpha(ch.epoch, ch.nonce));
  const unsigned = { epoch: ch.epoch, nonce: ch.nonce, pi, rttMs };
  return { proof: { ...unsigned, signature: signStatement("PRESENCE", statementBody(node, ch.verifier, unsigned), secret) }, offsetMs: heartbeatOffset(beta, ch.epochMs) };
}

const pad = (epoch: number) => epoch.toString().padStart(16, "0");

/** Options of the verifier. */
export interface PresenceVerifierOptions {
  /** The verifier's identity: its node id and secret seed (the nonce key is derived from it). */
  nodeId: string;
  secretKey: Uint8Array;
  /** proofs.presence_epoch */
  epochMs: number;
  /** The node's LMDB environment (records and nullifiers get their own named databases). */
  db: RootDatabase;
  now?: () => number;
  /** Who may prove (e.g. members of the cluster map); default anyone with a signed request. */
  allowProver?: (nodeId: string) => boolean;
  /** Most records per epoch (a flood of fresh keys cannot grow the database without bound). */
  maxPerEpoch?: number;
  /** Epochs of records kept. */
  keepEpochs?: number;
}

/** The presence verifier: epochs, nonces, checks, persisted records and nullifiers. */
export class PresenceVerifier {
  readonly epochMs: number;
  readonly graceMs: number;
  readonly #o: PresenceVerifierOptions;
  readonly #now: () => number;
  readonly #nonceKey: Uint8Array;
  readonly #records: Database<PresenceRecordData, string>;
  readonly #nullifiers: Database<{ node: string }, string>;
  readonly #maxPerEpoch: number;
  readonly #keep: number;
  #prunedBelow = 0;

  constructor(opts: PresenceVerifierOptions) {
    if (!Number.isSafeInteger(opts.epochMs) || opts.epochMs < 1000) throw new RangeError(`presence epoch must be >= 1000 ms, got ${opts.epochMs}`);
    this.#o = opts;
    this.epochMs = opts.epochMs;
    this.graceMs = Math.max(1000, Math.min(5000, Math.floor(opts.epochMs / 10)));
    this.#now = opts.now ?? Date.now;
    this.#nonceKey = deriveKey("slowdrip presence nonce v1", opts.secretKey);
    this.#records = opts.db.openDB<PresenceRecordData, string>({ name: "presence" });
    this.#nullifiers = opts.db.openDB<{ node: string }, string>({ name: "presence_nullifiers" });
    this.#maxPerEpoch = opts.maxPerEpoch ?? 100_000;
    this.#keep = opts.keepEpochs ?? 1008;
  }

  /** Current epoch number. */
  epoch(now = this.#now()): number {
    return Math.floor(now / this.epochMs);
  }

  /** The verifier's nonce of an epoch: keyed BLAKE3 of the epoch under a key derived from its secret. */
  nonceFor(epoch: number): Uint8Array {
    const e = new Uint8Array(8);
    new DataView(e.buffer).setBigUint64(0, BigInt(epoch));
    return keyedHash(this.#nonceKey, e);
  }

  /** The current epoch's challenge. */
  challenge(): PresenceChallenge {
    const now = this.#now();
    const epoch = this.epoch(now);
    this.#prune(epoch);
    return { epoch, startMs: epoch * this.epochMs, epochMs: this.epochMs, nonce: this.nonceFor(epoch), verifier: this.#o.nodeId, serverMs: now };
  }

  /**
   * Checks and records a proof from `caller` (the verified signer); rejects with PresenceError naming the refusal. The
   * record is written in an asynchronous LMDB transaction: the environment is shared with the store and the receipts
   * intake, whose asynchronous writes a synchronous transaction on the main thread could deadlock.
   */
  async prove(caller: string | undefined, p: PresenceProof): Promise<PresenceRecordData> {
    const now = this.#now();
    if (caller === undefined) throw new PresenceError("not-allowed", "a presence proof must be a signed request from the proving node");
    if (this.#o.allowProver && !this.#o.allowProver(caller)) throw new PresenceError("not-allowed", `node ${caller} may not prove presence here`);
    if (!Number.isSafeInteger(p.epoch) || p.epoch < 0 || !(p.nonce instanceof Uint8Array) || !(p.pi instanceof Uint8Array) || !(p.signature instanceof Uint8Array)) {
      throw new PresenceError("malformed", "epoch, nonce, proof and signature are required");
    }
    if (p.pi.length !== PROOF_LEN || p.signature.length !== 64 || p.nonce.length !== 32) throw new PresenceError("malformed", "proof is 80 bytes, signature 64, nonce 32");
    if (!Number.isInteger(p.rttMs) || p.rttMs < 0 || p.rttMs > 600_000) throw new PresenceError("malformed", "rtt_ms must be 0..600000");
    const current = this.epoch(now);
    if (p.epoch > current + 1 || p.epoch < current - this.#keep) throw new PresenceError("wrong-epoch", `epoch ${p.epoch} is not near the current epoch ${current}`);
    const nonce = this.nonceFor(p.epoch);
    if (toHex(nonce) !== toHex(p.nonce)) throw new PresenceError("wrong-nonce", `the nonce is not this verifier's nonce of epoch ${p.epoch}`);
    let beta: Uint8Array;
    try {
      beta = proofToHash(p.pi);
    } catch (err) {
      throw new PresenceError("bad-vrf", (err as Error).message, { cause: err });
    }
    const nullifier = nullifierOf(beta);
    const nkey = `${pad(p.epoch)}:${nullifier}`;
    // A recorded nullifier refuses the proof whatever the time: replays after a restart or after the epoch included.
    if (this.#nullifiers.get(nkey) !== undefined) throw new PresenceError("duplicate", `a proof with nullifier ${nullifier} was already counted for epoch ${p.epoch}`);
    try {
      vrfVerify(hexBytes(caller), presenceAlpha(p.epoch, p.nonce), p.pi);
    } catch (err) {
      if (err instanceof VrfError) throw new PresenceError("bad-vrf", `${err.message} (the VRF key is the signer's node key)`, { cause: err });
      throw err;
    }
    if (!verifyStatement("PRESENCE", statementBody(caller, this.#o.nodeId, p), p.signature, hexBytes(caller))) {
      throw new PresenceError("bad-signature", "the signature does not cover this proof and RTT");
    }
    const start = p.epoch * this.epochMs;
    if (p.epoch !== current && !(p.epoch === current - 1 && now < start + this.epochMs + this.graceMs)) {
      throw new PresenceError("wrong-epoch", `epoch ${p.epoch} is outside the window (current epoch ${current})`);
    }
    const offsetMs = heartbeatOffset(beta, this.epochMs);
    if (now < start + offsetMs - this.graceMs) {
      throw new PresenceError("early", `the heartbeat of this node is due ${start + offsetMs - now} ms from now (offset ${offsetMs} ms into epoch ${p.epoch})`);
    }
    const rec: PresenceRecordData = { node: caller, epoch: p.epoch, offsetMs, rttMs: p.rttMs, receivedMs: now, nullifier, pi: toHex(p.pi), signature: toHex(p.signature) };
    const rkey = `${pad(p.epoch)}:${caller}`;
    // Checked again inside the write transaction: two proofs in flight at once are counted once.
    const outcome = await this.#o.db.transaction(() => {
      if (this.#nullifiers.get(nkey) !== undefined || this.#records.get(rkey) !== undefined) return "duplicate";
      if (this.count(p.epoch) >= this.#maxPerEpoch) return "busy";
      void this.#nullifiers.put(nkey, { node: caller });
      void this.#records.put(rkey, rec);
      return "stored";
    });
    if (outcome === "duplicate") throw new PresenceError("duplicate", `node ${caller} was already counted for epoch ${p.epoch}`);
    if (outcome === "busy") throw new PresenceError("busy", `epoch ${p.epoch} already holds ${this.#maxPerEpoch} proofs`);
    this.#prune(current);
    return rec;
  }

  /** Accepted proofs of an epoch (default: the current one), by node id. */
  list(epoch = this.epoch()): PresenceRecordData[] {
    return [...this.#records.getRange({ start: `${pad(epoch)}:`, end: `${pad(epoch)};` })].map((e) => e.value);
  }

  /** Accepted proofs of an epoch. */
  count(epoch: number): number {
    return this.#records.getKeysCount({ start: `${pad(epoch)}:`, end: `${pad(epoch)};` });
  }

  /** Drops records and nullifiers older than the kept epochs. */
  #prune(current: number): void {
    const below = current - this.#keep;
    if (below <= this.#prunedBelow) return;
    this.#prunedBelow = below;
    const end = `${pad(below)}:`;
    for (const db of [this.#records, this.#nullifiers] as Database<unknown, string>[]) {
      for (const k of [...db.getKeys({ end })]) void db.remove(k); // asynchronous, as in prove: the environment is shared
    }
  }
}

function hexBytes(h: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(h)) throw new PresenceError("malformed", "node ids are 64 lowercase hex");
  return fromHex(h);
}

/** How the agent talks to its verifier (RPC in the node; anything in tests). */
export interface PresenceClient {
  challenge(signal?: AbortSignal): Promise<PresenceChallenge>;
  prove(p: PresenceProof, signal?: AbortSignal): Promise<PresenceRecordData>;
}

/** Options of the presence agent. */
export interface PresenceAgentOptions {
  nodeId: string;
  secretKey: Uint8Array;
  client: PresenceClient;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** Called with each epoch's outcome (tests, metrics). */
  onResult?: (r: { epoch: number; ok: boolean; record?: PresenceRecordData; error?: string }) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/** The node's presence agent: one proof per epoch at its VRF-chosen offset, the RTT measured just before. */
export class PresenceAgent {
  readonly #o: PresenceAgentOptions;
  readonly #prover: VrfProver;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Local time at which the verifier's next epoch starts, once known. */
  #nextEpochAt = 0;

  constructor(opts: PresenceAgentOptions) {
    this.#o = opts;
    this.#prover = new VrfProver(opts.secretKey);
  }

  /** One epoch: challenge, wait for the offset (on the verifier's clock), measure RTT, prove. */
  async runEpoch(signal: AbortSignal = this.#stop.signal): Promise<PresenceRecordData | null> {
    const t0 = Date.now();
    const ch = await this.#o.client.challenge(signal);
    const skew = ch.serverMs - Math.round((t0 + Date.now()) / 2);
    this.#nextEpochAt = ch.startMs + ch.epochMs - skew;
    const { beta } = this.#prover.prove(presenceAlpha(ch.epoch, ch.nonce));
    const offset = heartbeatOffset(beta, ch.epochMs);
    await sleep(ch.startMs + offset - skew - Date.now(), signal);
    if (signal.aborted) return null;
    const t1 = performance.now();
    const again = await this.#o.client.challenge(signal);
    const rtt = Math.round(performance.now() - t1);
    if (again.epoch !== ch.epoch) throw new Error(`epoch ${ch.epoch} ended before its heartbeat offset (${offset} ms)`);
    const { proof } = makePresenceProof(this.#prover, this.#o.secretKey, this.#o.nodeId, ch, rtt);
    return this.#o.client.prove(proof, signal);
  }

  /** Proves every epoch until stopped; a failure is logged and the next epoch is tried (or again after 5 s). */
  start(): void {
    if (this.#loop) return;
    const signal = this.#stop.signal;
    this.#loop = (async () => {
      while (!signal.aborted) {
        let next = Date.now() + 5000;
        try {
          const rec = await this.runEpoch(signal);
          if (rec) {
            this.#o.log?.info({ epoch: rec.epoch, offset_ms: rec.offsetMs, rtt_ms: rec.rttMs }, "presence: proof accepted");
            this.#o.onResult?.({ epoch: rec.epoch, ok: true, record: rec });
            next = this.#nextEpochAt;
          }
        } catch (err) {
          if (signal.aborted) break;
          const error = err instanceof Error ? err.message : String(err);
          this.#o.log?.warn({ err: error }, "presence: proof not accepted");
          this.#o.onResult?.({ epoch: -1, ok: false, error });
          // A refused proof (e.g. already counted) waits for the next epoch; an unreachable verifier is retried sooner.
          if (/^(duplicate|wrong-epoch|early)/.test(error.replace(/^\[[a-z_]+\] /, ""))) next = Math.max(next, this.#nextEpochAt);
        }
        // A little past the epoch boundary, so that the verifier is in the new epoch too.
        await sleep(next - Date.now() + 50, signal);
      }
    })();
  }

  /** Stops the loop. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }
}
