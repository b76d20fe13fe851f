// `slowdrip cluster status|place`: the validator's view of the cluster, the placement diagnostic; also how cluster
// commands find the validator.
import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { GetClusterStatusResponseSchema, MemberState, ValidatorService, type MemberStatus } from "../gen/slowdrip/v1/cluster_pb.ts";
import { nodeClient } from "./client.ts";
import { clusterPlace, clusterPlaceUsage } from "./cluster-place.ts";
import { formatBytes } from "./progress.ts";
import { CliError, type CliIO, type Command } from "./command.ts";

/** parseArgs options of commands that talk to the validator. */
export const validatorFlagOptions = {
  validator: { type: "string" },
  token: { type: "string" },
} as const;

export const validatorFlagUsage = [
  "  --validator URL      the validator; uploads and deletes need its admin listener (default: env SLOWDRIP_VALIDATOR,",
  "                       else this node's admin listener http://<api.admin_listen>)",
  "  --token TOKEN        admin token for uploads and deletes (default: env SLOWDRIP_TOKEN, else <data_dir>/admin.token)",
].join("\n");

/** A client of the validator's ValidatorService. */
export interface ValidatorClient {
  url: string;
  client: Client<typeof ValidatorService>;
  callOptions: { headers?: Record<string, string> };
}

/**
 * Finds the validator: --validator, else $SLOWDRIP_VALIDATOR, else the node's own admin listener (where the control
 * calls PutFile and DeleteFile are served); the token as usual.
 */
export function validatorClient(values: Record<string, unknown>, io: CliIO): ValidatorClient {
  const url = (values.validator as string | undefined) || io.env.SLOWDRIP_VALIDATOR || undefined;
  const c = nodeClient({ ...values, url }, { ...io, env: { ...io.env, SLOWDRIP_URL: undefined } });
  // Binary protobuf: file bytes are not base64-encoded on the wire.
  const transport = createConnectTransport({ baseUrl: c.url, httpVersion: "1.1", useBinaryFormat: true });
  return { url: c.url, client: createClient(ValidatorService, transport), callOptions: c.callOptions };
}

/** Turns an RPC failure into one CLI line. */
export function validatorFailure(err: unknown, url: string, what: string): never {
  if (err instanceof ConnectError) {
    if (err.code === Code.Unavailable && /ECONNREFUSED|fetch failed|socket/i.test(err.rawMessage)) throw new CliError(`${what}: cannot reach the validator at ${url} (${err.rawMessage})`);
    throw new CliError(`${what}: ${Code[err.code] ?? err.code}: ${err.rawMessage}`);
  }
  throw err;
}

const STATE: Record<number, string> = { [MemberState.UP]: "up", [MemberState.DOWN]: "down", [MemberState.FAULTY]: "faulty" };

function ago(ms: bigint, now: number): string {
  if (ms === 0n) return "never";
  const s = (now - Number(ms)) / 1000;
  return s < 120 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`;
}

function memberLine(m: MemberStatus, now: number): string {
  const x = m.member!;
  const r = m.rebalance;
  const reb = r ? `rebalance epoch ${r.epoch}: ${r.complete ? "complete" : `${r.pulled}/${r.missing} pulled, ${r.failed} failed`}, ${r.orphans} orphans` : "no report yet";
  const p = m.proofs;
  const proofs = p
    ? `storage proofs ${p.passed} passed, ${p.failed} failed, ${p.timedOut} timed out (last ${p.lastResult} ${ago(p.lastUnixMs, now)})${p.lastFailure ? `; last failure ${p.lastFailure}` : ""}`
    : "storage proofs: not challenged yet";
  return [
    `  ${x.nodeId.slice(0, 16)}  ${(STATE[x.state] ?? "?").padEnd(6)} ${x.endpoint}`,
    `      weight ${x.weight}, ${formatBytes(m.totalBytes)} total, ${formatBytes(m.availableBytes)} free, heartbeat ${ago(m.lastHeartbeatUnixMs, now)}`,
    `      ${m.pgPositions} PG positions, ${m.shardsStored} shards, ${m.faults} faults${m.faultReason ? ` (${m.faultReason})` : ""}; ${reb}`,
    `      ${proofs}`,
  ].join("\n");
}

const STATUS_USAGE = [
  "usage: slowdrip cluster status [--json] [--validator URL] [config flags]",
  "",
  "Prints the epoch, the members by family (capacity, last heartbeat, placement spread, faults, rebalance",
  "progress, the warden's storage proofs passed, failed and timed out), and the stripes that are under-replicated.",
  "",
  validatorFlagUsage,
  "",
  "config flags:",
  configFlagUsage,
].join("\n");

async function status(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...configFlagOptions, ...validatorFlagOptions, json: { type: "boolean" } }, allowPositionals: true });
  if (positionals.length) throw new CliError(`cluster status: unexpected argument "${positionals[0]}"`, 2);
  const v = validatorClient(values, io);
  let s;
  try {
    s = await v.client.getClusterStatus({}, { ...v.callOptions, timeoutMs: 30_000 });
  } catch (err) {
    validatorFailure(err, v.url, "cluster status");
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(toJson(GetClusterStatusResponseSchema, s, { alwaysEmitImplicit: true }), null, 2)}\n`);
    return 0;
  }
  const now = Date.now();
  const byFamily = new Map<string, MemberStatus[]>();
  for (const m of s.members) (byFamily.get(m.member!.family) ?? byFamily.set(m.member!.family, []).get(m.member!.family)!).push(m);
  const count = (st: MemberState) => s.members.filter((m) => m.member!.state === st).length;
  const lines = [
    `validator  ${s.validatorId}`,
    `epoch      ${s.epoch}  (k=${s.dataShards}, m=${s.parityShards}, ${s.pgCount} PGs${s.wardenIds.length ? `, wardens ${s.wardenIds.map((w) => w.slice(0, 16)).join(", ")}` : ""})`,
    `files      ${s.files} (${s.stripes} stripes)`,
    `health     ${s.underReplicatedStripes} under-replicated stripes, ${s.unreadableStripes} unreadable, ${s.missingShards} shards missing (scan ${ago(s.lastScanUnixMs, now)})`,
    `members    ${count(MemberState.UP)} up, ${count(MemberState.DOWN)} down, ${count(MemberState.FAULTY)} faulty, in ${byFamily.size} families`,
  ];
  for (const [family, ms] of [...byFamily].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    lines.push(`family ${family}`);
    for (const m of ms) lines.push(memberLine(m, now));
  }
  io.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[], io: CliIO) => Promise<number>> = { status, place: clusterPlace };

export const clusterCommand: Command = {
  name: "cluster",
  usage: ["usage: slowdrip cluster <subcommand> [options]", "", "subcommands:", "  status  epoch, members, health and rebalance progress", "  place   print the placement of every placement group", "", STATUS_USAGE, "", clusterPlaceUsage].join("\n"),
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const run = sub === undefined ? undefined : SUBCOMMANDS[sub];
    if (!run) throw new CliError(`cluster: ${sub === undefined ? "missing subcommand" : `unknown subcommand "${sub}"`} (${Object.keys(SUBCOMMANDS).join(", ")})`, 2);
    return run(rest, io);
  },
};
