// Access control for RPCs: every method has a declared access level; control calls need the admin bearer token.
import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/** Who may call a method: anyone, anyone allowed by the read policy, or the admin. */
export type Access = "public" | "read" | "admin";

/** Access level per "package.Service/Method". Methods not listed are refused. */
export type AccessPolicy = ReadonlyMap<string, Access>;

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

/** Interceptor enforcing the policy. `readAllowed` decides "read" methods (public by default). */
export function authInterceptor(policy: AccessPolicy, adminToken: () => string, readAllowed: () => boolean = () => true): Interceptor {
  return (next) => async (req) => {
    const key = `${req.service.typeName}/${req.method.name}`;
    const access = policy.get(key);
    if (access === undefined) throw new ConnectError(`method ${key} has no access policy`, Code.PermissionDenied);
    if (access === "public" || (access === "read" && readAllowed())) return next(req);
    const token = bearerToken(req.header.get("authorization"));
    if (token === undefined) {
      throw new ConnectError(`${req.method.name} is a control call: send "Authorization: Bearer <admin token>" (from <data_dir>/admin.token)`, Code.Unauthenticated);
    }
    if (!tokenMatches(token, adminToken())) throw new ConnectError("admin token is not valid", Code.Unauthenticated);
    return next(req);
  };
}
