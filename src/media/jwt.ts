// EdDSA (Ed25519) JWTs for publish/read with MediaMTX's `mediamtx_permissions` claim, and the JWKS document (OKP keys).
import { sha256 } from "@noble/hashes/sha2.js";
import { publicKeyOf, sign, verify } from "../identity/ed25519.ts";

/** Actions a token may grant (MediaMTX's permission actions that the node issues). */
export type MediaAction = "publish" | "read" | "playback";
export const MEDIA_ACTIONS: readonly MediaAction[] = ["publish", "read", "playback"];

/** One MediaMTX permission: an action on a path ("" = any path, "~regex" = a regular expression). */
export interface MediaPermission {
  action: MediaAction;
  path: string;
}

/** The claims the node signs. */
export interface MediaClaims {
  iss: string;
  sub?: string;
  /** The node id the token is for (a token for node A is refused by node B). */
  aud?: string;
  iat: number;
  nbf?: number;
  exp: number;
  jti?: string;
  mediamtx_permissions: MediaPermission[];
}

/** Why a token was refused; `code` is stable for logs and tests. */
export type JwtErrorCode =
  | "malformed"
  | "too-long"
  | "unsupported-alg"
  | "unknown-key"
  | "bad-signature"
  | "expired"
  | "not-yet-valid"
  | "bad-issuer"
  | "bad-audience"
  | "bad-claims";

export class JwtError extends Error {
  readonly code: JwtErrorCode;
  constructor(code: JwtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JwtError";
    this.code = code;
  }
}

/** Longest token accepted: ffmpeg's RTMP tcUrl limit is 1024 chars, so real tokens stay far below this. */
export const MAX_TOKEN_LENGTH = 4096;
/** Most permissions in one token. */
export const MAX_PERMISSIONS = 64;
/** Longest path in a permission. */
export const MAX_PATH_LENGTH = 256;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** base64url without padding. */
export function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Strict base64url decode (no padding, only the URL alphabet). */
export function fromB64url(s: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new JwtError("malformed", "not base64url");
  return new Uint8Array(Buffer.from(s, "base64url"));
}

/** RFC 7638 thumbprint of an Ed25519 OKP key; used as the key id (`kid`). */
export function keyId(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new TypeError("publicKey must be 32 bytes");
  const canonical = `{"crv":"Ed25519","kty":"OKP","x":"${b64url(publicKey)}"}`;
  return b64url(sha256(enc.encode(canonical)));
}

/** A JSON Web Key for an Ed25519 public key. */
export interface OkpJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

/** The JWK of one public key. */
export function publicJwk(publicKey: Uint8Array): OkpJwk {
  return { kty: "OKP", crv: "Ed25519", x: b64url(publicKey), kid: keyId(publicKey), alg: "EdDSA", use: "sig" };
}

/** The JWKS document (`/.well-known/jwks.json`) for the given public keys (duplicates dropped). */
export function jwksDocument(publicKeys: Uint8Array[]): { keys: OkpJwk[] } {
  const seen = new Set<string>();
  const keys: OkpJwk[] = [];
  for (const k of publicKeys) {
    const j = publicJwk(k);
    if (!seen.has(j.kid)) {
      seen.add(j.kid);
      keys.push(j);
    }
  }
  return { keys };
}

function checkPermissions(perms: unknown): MediaPermission[] {
  if (!Array.isArray(perms) || perms.length === 0 || perms.length > MAX_PERMISSIONS) {
    throw new JwtError("bad-claims", `mediamtx_permissions must be a list of 1-${MAX_PERMISSIONS} permissions`);
  }
  return perms.map((p, i) => {
    const o = p as Record<string, unknown>;
    if (typeof o !== "object" || o === null || !MEDIA_ACTIONS.includes(o.action as MediaAction)) {
      throw new JwtError("bad-claims", `permission ${i}: action must be one of ${MEDIA_ACTIONS.join(", ")}`);
    }
    const path = o.path ?? "";
    if (typeof path !== "string" || path.length > MAX_PATH_LENGTH) {
      throw new JwtError("bad-claims", `permission ${i}: path must be a string of at most ${MAX_PATH_LENGTH} chars`);
    }
    return { action: o.action as MediaAction, path };
  });
}

export interface IssueOptions {
  /** 32-byte Ed25519 secret seed (node key or operator key). */
  secretKey: Uint8Array;
  /** `iss` claim, e.g. the node id or its public URL. */
  issuer: string;
  permissions: MediaPermission[];
  /** Lifetime in seconds (1 s - 366 days). */
  ttlSeconds: number;
  subject?: string;
  /** `aud` claim: the node id the token is for. */
  audience?: string;
  /** Unix seconds; default now. */
  now?: number;
  jti?: string;
}

/** Issues a compact JWS (header.claims.signature) signed with EdDSA. */
export function issueToken(opts: IssueOptions): string {
  const permissions = checkPermissions(opts.permissions);
  if (!(Number.isInteger(opts.ttlSeconds) && opts.ttlSeconds >= 1 && opts.ttlSeconds <= 366 * 86_400)) {
    throw new RangeError("ttlSeconds must be an integer in 1-31622400");
  }
  if (typeof opts.issuer !== "string" || opts.issuer.length === 0 || opts.issuer.length > 256) throw new TypeError("issuer must be 1-256 chars");
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const publicKey = publicKeyOf(opts.secretKey);
  const header = { alg: "EdDSA", typ: "JWT", kid: keyId(publicKey) };
  const claims: MediaClaims = {
    iss: opts.issuer,
    ...(opts.subject ? { sub: opts.subject } : {}),
    ...(opts.audience ? { aud: opts.audience } : {}),
    iat: now,
    exp: now + opts.ttlSeconds,
    ...(opts.jti ? { jti: opts.jti } : {}),
    mediamtx_permissions: permissions,
  };
  const signingInput = `${b64url(enc.encode(JSON.stringify(header)))}.${b64url(enc.encode(JSON.stringify(claims)))}`;
  return `${signingInput}.${b64url(sign(enc.encode(signingInput), opts.secretKey))}`;
}

export interface VerifyOptions {
  /** Public keys trusted to sign tokens (node key, operator keys). */
  trustedKeys: Uint8Array[];
  /** Unix seconds; default now. */
  now?: number;
  /** Allowed clock skew in seconds. Default 30. */
  leewaySeconds?: number;
  /** When set, `iss` must equal it. */
  issuer?: string;
  /** When set, `aud` must name it (a string equal to it, or an array containing it). */
  audience?: string;
}

/** Verifies a token and returns its claims; throws JwtError naming the first problem. */
export function verifyToken(token: string, opts: VerifyOptions): MediaClaims & { kid: string } {
  if (typeof token !== "string" || token.length === 0) throw new JwtError("malformed", "no token");
  if (token.length > MAX_TOKEN_LENGTH) throw new JwtError("too-long", `token longer than ${MAX_TOKEN_LENGTH} chars`);
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtError("malformed", "token is not three dot-separated parts");
  const [h, c, s] = parts as [string, string, string];
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(dec.decode(fromB64url(h)));
    claims = JSON.parse(dec.decode(fromB64url(c)));
  } catch (e) {
    throw new JwtError("malformed", "header or claims are not base64url JSON", { cause: e });
  }
  if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null) {
    throw new JwtError("malformed", "header and claims must be JSON objects");
  }
  if (header.alg !== "EdDSA") throw new JwtError("unsupported-alg", `alg '${String(header.alg)}' is not EdDSA`);
  if (header.crit !== undefined) throw new JwtError("unsupported-alg", "crit headers are not supported");
  const byKid = new Map(opts.trustedKeys.map((k) => [keyId(k), k]));
  const kid = typeof header.kid === "string" ? header.kid : "";
  const key = byKid.get(kid);
  if (!key) throw new JwtError("unknown-key", `kid '${kid.slice(0, 64)}' is not a trusted key`);
  const sig = fromB64url(s);
  if (!verify(sig, enc.encode(`${h}.${c}`), key)) throw new JwtError("bad-signature", "signature does not verify");

  const now = opts.now ?? Math.floor(Date.now() / 1000);
  const leeway = opts.leewaySeconds ?? 30;
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  if (!num(claims.exp)) throw new JwtError("bad-claims", "exp is missing");
  if (!num(claims.iat)) throw new JwtError("bad-claims", "iat is missing");
  if (now > (claims.exp as number) + leeway) throw new JwtError("expired", `token expired at ${new Date((claims.exp as number) * 1000).toISOString()}`);
  if (claims.nbf !== undefined && (!num(claims.nbf) || now + leeway < (claims.nbf as number))) throw new JwtError("not-yet-valid", "token is not valid yet (nbf)");
  if ((claims.iat as number) > now + leeway) throw new JwtError("not-yet-valid", "token issued in the future (iat)");
  if (typeof claims.iss !== "string") throw new JwtError("bad-claims", "iss is missing");
  if (opts.issuer !== undefined && claims.iss !== opts.issuer) throw new JwtError("bad-issuer", `iss '${claims.iss.slice(0, 64)}' is not '${opts.issuer}'`);
  if (opts.audience !== undefined) {
    const aud = claims.aud;
    const names = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
    if (!names.includes(opts.audience)) {
      throw new JwtError("bad-audience", names.length === 0 ? `the token names no audience; it must be for node ${opts.audience}` : `the token is for ${names.join(", ").slice(0, 140)}, not node ${opts.audience}`);
    }
  }
  const permissions = checkPermissions(claims.mediamtx_permissions);
  return { ...(claims as unknown as MediaClaims), mediamtx_permissions: permissions, kid };
}

/** True when one permission covers `action` on `path` (MediaMTX semantics: "" any path, "~re" regex, else exact). */
export function permissionCovers(p: MediaPermission, action: string, path: string): boolean {
  if (p.action !== action) return false;
  if (p.path === "") return true;
  if (p.path.startsWith("~")) {
    try {
      return new RegExp(p.path.slice(1)).test(path);
    } catch {
      return false;
    }
  }
  return p.path === path;
}
