// Auth decision for MediaMTX's HTTP hook: request body + policy -> allow | deny(status, reason). Pure; no I/O.
import { JwtError, permissionCovers, verifyToken, type MediaClaims } from "./jwt.ts";

/** The JSON body MediaMTX posts to authHTTPAddress (every field a string). */
export interface AuthRequest {
  user: string;
  password: string;
  token: string;
  ip: string;
  action: string;
  path: string;
  protocol: string;
  id: string;
  query: string;
  userAgent: string;
}

/** What the node allows. */
export interface AuthPolicy {
  /** Public keys whose tokens are accepted (node key, operator keys). */
  trustedKeys: Uint8Array[];
  /** Paths anyone may read: exact names, "~regex", or "" for every path. */
  openReadPaths: string[];
  /** When set, tokens must carry this `iss`. */
  issuer?: string;
  /** When set, tokens must name this audience (the node id). */
  audience?: string;
  /** Unix seconds; default now. */
  now?: number;
}

/** The hook's answer. `status` is what the hook returns to MediaMTX (2xx allows). */
export type AuthDecision =
  | { allow: true; status: 200; reason: string; subject: string | null }
  | { allow: false; status: 401 | 403 | 400; reason: string };

/** A body that is not a MediaMTX auth request. */
export class AuthInputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuthInputError";
  }
}

/** Largest hook body accepted (MediaMTX's are well under 1 KiB plus the token). */
export const MAX_AUTH_BODY = 16 * 1024;
const FIELD_LIMITS: Record<keyof AuthRequest, number> = {
  user: 256,
  password: 4096,
  token: 4096,
  ip: 64,
  action: 16,
  path: 256,
  protocol: 16,
  id: 64,
  query: 4096,
  userAgent: 512,
};
const ACTIONS = new Set(["publish", "read", "playback", "api", "metrics", "pprof"]);

/** Parses and bounds a hook body. Throws AuthInputError naming the bad field. */
export function parseAuthRequest(body: string | Uint8Array): AuthRequest {
  const size = typeof body === "string" ? body.length : body.byteLength;
  if (size > MAX_AUTH_BODY) throw new AuthInputError(`body of ${size} bytes exceeds ${MAX_AUTH_BODY}`);
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === "string" ? body : new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (e) {
    throw new AuthInputError("body is not JSON", { cause: e });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new AuthInputError("body is not a JSON object");
  const o = doc as Record<string, unknown>;
  const out = {} as AuthRequest;
  for (const [k, max] of Object.entries(FIELD_LIMITS) as [keyof AuthRequest, number][]) {
    const v = o[k] ?? "";
    if (typeof v !== "string") throw new AuthInputError(`field '${k}' is not a string`);
    if (v.length > max) throw new AuthInputError(`field '${k}' is longer than ${max} chars`);
    out[k] = v;
  }
  if (!ACTIONS.has(out.action)) throw new AuthInputError(`unknown action '${out.action}'`);
  return out;
}

/** The token of a request, where MediaMTX puts it: token, password, or ?token= / ?jwt= in the query. */
export function tokenOf(req: AuthRequest): string {
  if (req.token) return req.token;
  if (req.password) return req.password;
  if (req.query) {
    const q = new URLSearchParams(req.query);
    const t = q.getAll("token");
    if (t.length === 1 && t[0]) return t[0];
    const j = q.getAll("jwt");
    if (j.length === 1 && j[0]) return j[0];
  }
  return "";
}

function openForRead(policy: AuthPolicy, path: string): boolean {
  return policy.openReadPaths.some((p) => permissionCovers({ action: "read", path: p }, "read", path));
}

/**
 * Decides one request: allowed only with a valid, unexpired token from a trusted key whose claims cover the action
 * and path, or for reads of an open path. Without any credentials the answer is 401 (so RTSP clients send them).
 */
export function decideAuth(req: AuthRequest, policy: AuthPolicy): AuthDecision {
  const action = req.action;
  if (action === "api" || action === "metrics" || action === "pprof") {
    return { allow: false, status: 403, reason: `action '${action}' is not granted through the hook` };
  }
  if ((action === "read" || action === "playback") && openForRead(policy, req.path)) {
    return { allow: true, status: 200, reason: `path '${req.path}' is open for reading`, subject: null };
  }
  const token = tokenOf(req);
  if (!token) {
    return { allow: false, status: 401, reason: `no token for ${action} on '${req.path}' (${req.protocol || "unknown protocol"})` };
  }
  let claims: MediaClaims;
  try {
    claims = verifyToken(token, { trustedKeys: policy.trustedKeys, now: policy.now, issuer: policy.issuer, audience: policy.audience });
  } catch (e) {
    if (e instanceof JwtError) return { allow: false, status: 403, reason: `token refused (${e.code}): ${e.message}` };
    throw e;
  }
  if (!claims.mediamtx_permissions.some((p) => permissionCovers(p, action, req.path))) {
    const granted = claims.mediamtx_permissions.map((p) => `${p.action}:${p.path || "*"}`).join(", ");
    return { allow: false, status: 403, reason: `token does not cover ${action} on '${req.path}' (grants ${granted})` };
  }
  return { allow: true, status: 200, reason: `token covers ${action} on '${req.path}'`, subject: claims.sub ?? claims.iss };
}
