// Access control for RPCs: every method declares who may call it; admin calls need the bearer token or an operator signature.
import { createHash, timingSafeEqual } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { DescMessage, DescMethod, Message } from "@bufbuild/protobuf";
import { hasSignature, SIG_HEADERS, SignatureError, StreamBodyHasher, verifyRequest, type NonceCache, type SignedParts } from "../identity/request-signing.ts";
import { rawStreamHashKey, remoteAddressKey, type RawStreamHash } from "./context.ts";

/**
 * A peer call that only some signers may make, decided per call from current state (e.g. the cluster map: "only the
 * validator"). A valid signature from anyone else is answered permission_denied naming the rule.
 */
export interface PeerRule {
  /** Who may call, as the refusal names it (e.g. "the cluster validator"). */
  readonly rule: string;
  allows(nodeId: string): boolean;
}

/**
 * Who may call a method: anyone; anyone the read policy allows; a node with a valid signed request; a signed request
 * from a node the rule allows; the admin.
 */
export type Access = "public" | "read" | "peer" | "admin" | PeerRule;

/** Access level per "package.Service/Method". Methods not listed are refused. */
export type AccessPolicy = ReadonlyMap<string, Access>;

/** Who is calling, as established by the auth interceptor; handlers read it from the context. */
export interface Caller {
  /** Node id of a verified signed request. */
  nodeId: string | undefined;
  /** True for the admin token or an operator key's signature. */
  admin: boolean;
}

/** Context key under which the interceptor stores the Caller. */
export const callerKey = createContextKey<Caller>({ nodeId: undefined, admin: false }, { description: "slowdrip caller" });

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time comparison of a presented bearer token with the expected one. */
export function tokenMatches(presented: string, expected: string): boolean {
  // Hashing first makes the comparison length-independent as well as constant-time.
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Extracts the token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header || header.length > 1024) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

/** What the interceptor needs. */
export interface AuthOptions {
  policy: AccessPolicy;
  adminToken: () => string;
  /** Node ids (hex public keys) whose signed requests count as admin. */
  operatorKeys: () => ReadonlySet<string>;
  nonces: NonceCache;
  /** This node's id: signed requests must name it as their target. */
  self: string;
  /** Decides "read" methods for unsigned callers (public by default). */
  readAllowed?: () => boolean;
}

/** Interceptor enforcing the policy and recording the Caller in the context. */
export function authInterceptor(opts: AuthOptions): Interceptor {
  return (next) => async (req) => {
    const key = `${req.service.typeName}/${req.method.name}`;
    const access = opts.policy.get(key);
    if (access === undefined) throw new ConnectError(`method ${key} has no access policy`, Code.PermissionDenied);
    const get = (name: string) => req.header.get(name) ?? undefined;

    let nodeId: string | undefined;
    if (hasSignature(get)) {
      const parts: SignedParts = { method: "POST", path: `/${key}` };
      if (!req.stream) {
        parts.body = toBinary(req.method.input, req.message);
      } else if (req.method.methodKind === "server_streaming") {
        // One request message: it is covered like a unary body, so read it before verifying and hand it on.
        const it = req.message[Symbol.asyncIterator]();
        const first = await it.next();
        if (!first.done) {
          parts.body = toBinary(req.method.input, first.value);
          req = { ...req, message: replayFirst(first.value, it) };
        }
      } else {
        const declared = get(SIG_HEADERS.body);
        if (declared === undefined) throw refused(new SignatureError("missing", `a signed streaming request needs ${SIG_HEADERS.body}: the BLAKE3 of its framed messages`));
        parts.bodyHash = declared;
        const raw = req.contextValues.get(rawStreamHashKey);
        req = { ...req, message: raw ? checkedRawStream(req.message, raw, declared) : checkedStream(req.message, req.method, declared) };
      }
      try {
        nodeId = verifyRequest(get, parts, opts.nonces, { self: opts.self, address: req.contextValues.get(remoteAddressKey) });
      } catch (err) {
        throw err instanceof SignatureError ? refused(err) : err;
      }
    }
    const token = bearerToken(req.header.get("authorization"));
    const tokenOk = token !== undefined && tokenMatches(token, opts.adminToken());
    if (token !== undefined && !tokenOk) throw new ConnectError("admin token is not valid", Code.Unauthenticated);
    const admin = tokenOk || (nodeId !== undefined && opts.operatorKeys().has(nodeId));
    req.contextValues.set(callerKey, { nodeId, admin });

    if (access === "public" || admin) return next(req);
    if (access === "read" && (opts.readAllowed?.() ?? true)) return next(req);
    if (access === "peer" || typeof access === "object") {
      if (nodeId === undefined) throw new ConnectError(`${req.method.name} is a peer call: sign the request with the node key (x-slowdrip-* headers)`, Code.Unauthenticated);
      if (access === "peer" || access.allows(nodeId)) return next(req);
      throw new ConnectError(`${req.method.name} may be called only by ${access.rule}; node ${nodeId} is not`, Code.PermissionDenied);
    }
    throw new ConnectError(
      `${req.method.name} is a control call: send "Authorization: Bearer <admin token>" (from <data_dir>/admin.token) or sign it with an operator key`,
      Code.Unauthenticated,
    );
  };
}

/** The Connect error for a refused signature: busy and rate-limited are resource_exhausted, the rest unauthenticated. */
function refused(err: SignatureError): ConnectError {
  const code = err.reason === "busy" || err.reason === "rate-limited" ? Code.ResourceExhausted : Code.Unauthenticated;
  return new ConnectError(`signed request refused (${err.reason}): ${err.message}`, code, undefined, undefined, err);
}

async function* replayFirst<T>(first: T, rest: AsyncIterator<T>): AsyncIterable<T> {
  yield first;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

/**
 * Passes a signed client stream through whose frames the request-body guard hashes as they arrive; when it ends, that
 * hash must equal the signed declaration (see checkedStream).
 */
async function* checkedRawStream<T>(input: AsyncIterable<T>, raw: RawStreamHash, declared: string): AsyncIterable<T> {
  for await (const m of input) yield m;
  if (!raw.complete || raw.hasher.digestHex() !== declared) {
    throw refused(new SignatureError("body-mismatch", `the streamed body (${raw.hasher.messages} messages, ${raw.hasher.bytes} bytes) does not match the signed ${SIG_HEADERS.body}`));
  }
}

/**
 * Passes a signed client stream through while hashing it; when it ends, the hash must equal the signed declaration, or
 * the handler's loop gets an error instead of the end (handlers of streamed uploads commit only after the end).
 */
async function* checkedStream<T extends Message>(input: AsyncIterable<T>, method: DescMethod, declared: string): AsyncIterable<T> {
  const h = new StreamBodyHasher();
  for await (const m of input) {
    h.update(toBinary(method.input as DescMessage, m));
    yield m;
  }
  if (h.digestHex() !== declared) {
    throw refused(new SignatureError("body-mismatch", `the streamed body (${h.messages} messages, ${h.bytes} bytes) does not match the signed ${SIG_HEADERS.body}`));
  }
}
