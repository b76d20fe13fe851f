// The dashboard's calls: Connect-protocol JSON (proto3 JSON mapping: lowerCamelCase fields, 64-bit integers as
// strings) to the node on this page's origin, with the admin token from sessionStorage on admin calls.
import { rpc, RpcError } from "../rpc.ts";

const TOKEN_KEY = "slowdrip.admin-token";

/** The admin token kept for this tab ("" when none). */
export function adminToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}
/** Keeps (or, with "", forgets) the admin token for this tab. */
export function setAdminToken(t: string): void {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A public call. */
export const pub = <T>(method: string, body: unknown = {}): Promise<T> => rpc<T>(`slowdrip.v1.${method}`, body);
/** An admin call (needs the token; refused with unauthenticated without it). */
export const admin = <T>(method: string, body: unknown = {}): Promise<T> => {
  const t = adminToken();
  return rpc<T>(`slowdrip.v1.${method}`, body, t ? { authorization: `Bearer ${t}` } : {});
};

/** True for errors that mean "this token does not open admin calls". */
export const refusedToken = (e: unknown): boolean => e instanceof RpcError && (e.code === "unauthenticated" || e.code === "permission_denied");
/** True for errors that mean "this node has no such service" (a role that is off). */
export const absent = (e: unknown): boolean => e instanceof RpcError && (e.code === "unimplemented" || e.code === "http-404" || e.code === "not_found");

/** A uint64/int64 JSON value as a number. */
export const n = (v: string | number | undefined): number => (v === undefined ? 0 : Number(v));

export interface ComponentJson {
  name: string;
  ready?: boolean;
  required?: boolean;
  detail?: string;
}
export interface StatusJson {
  version?: string;
  nodeId?: string;
  uptimeSeconds?: number;
  ready?: boolean;
  components?: ComponentJson[];
  storage?: { bytesUsed?: string; bytesMax?: string; blobCount?: string };
}
export interface PathJson {
  name: string;
  available?: boolean;
  sourceType?: string;
  readers?: number;
  inboundBytes?: string;
  outboundBytes?: string;
  segments?: string;
  root?: string;
}
export interface PathsJson {
  paths?: PathJson[];
  mediamtxState?: string;
  mediamtxDetail?: string;
}
export interface LiveSessionJson {
  protocol?: string;
  id?: string;
  path?: string;
  state?: string;
  remoteAddr?: string;
  inboundBytes?: string;
  outboundBytes?: string;
  createdUnixMs?: string;
}
export interface PaidSessionJson {
  idPrefix?: string;
  service?: string;
  client?: string;
  mint?: string;
  paid?: string;
  total?: string;
  left?: string;
  used?: string;
  createdUnixMs?: string;
  lastUsedUnixMs?: string;
}
export interface LatencyJson {
  path?: string;
  samples?: number;
  p50Ms?: number;
  p95Ms?: number;
  maxMs?: number;
  total?: string;
}
export interface LedgerEntryJson {
  timeUnixMs?: string;
  direction?: string;
  kind?: string;
  amount?: string;
  mint?: string;
  peer?: string;
  service?: string;
  bytes?: string;
}
export interface MintBalanceJson {
  mint: string;
  balance?: string;
  reserved?: string;
  trusted?: boolean;
}
export interface BlobJson {
  hash: string;
  size?: string;
  pinned?: boolean;
}
export interface ClusterJson {
  epoch?: string;
  validatorId?: string;
  members?: { member?: { nodeId?: string; endpoint?: string; family?: string; weight?: number; state?: string }; lastHeartbeatUnixMs?: string }[];
  files?: string;
  underReplicatedStripes?: string;
}
