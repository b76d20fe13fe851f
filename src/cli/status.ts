// `slowdrip status`: asks a running node for its status over RPC.
import { parseArgs } from "node:util";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { CliError, type Command } from "./command.ts";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { NodeService, GetStatusResponseSchema } from "../gen/slowdrip/v1/node_pb.ts";
import { clientFlagOptions, clientFlagUsage, isUnreachable, nodeClient, unreachable } from "./client.ts";
import { formatBytes } from "./progress.ts";

export const statusCommand: Command = {
  name: "status",
  usage: ["usage: slowdrip status [--json] [--url URL] [--token TOKEN] [config flags]", "", clientFlagUsage, "", "config flags:", configFlagUsage].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, options: { ...configFlagOptions, ...clientFlagOptions, json: { type: "boolean" } }, allowPositionals: true });
    if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"`, 2);
    const c = nodeClient(values, io);
    const client = createClient(NodeService, c.transport);
    let st;
    try {
      st = await client.getStatus({}, { ...c.callOptions, timeoutMs: 10_000 });
    } catch (err) {
      if (err instanceof ConnectError && isUnreachable(err.code, err.rawMessage)) throw unreachable(c, err.rawMessage);
      if (err instanceof ConnectError) throw new CliError(`${Code[err.code]}: ${err.rawMessage}`);
      throw err;
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(toJson(GetStatusResponseSchema, st), null, 2)}\n`);
      return 0;
    }
    const lines = [
      `node      ${st.nodeId}`,
      `version   ${st.version}`,
      `uptime    ${st.uptimeSeconds.toFixed(0)} s`,
      `ready     ${st.ready ? "yes" : "no"}`,
      `storage   ${formatBytes(st.storage?.bytesUsed ?? 0n)} in ${st.storage?.blobCount ?? 0n} blobs${st.storage?.bytesMax ? ` of ${formatBytes(st.storage.bytesMax)}` : ""}`,
      "components:",
      ...st.components.map((x) => `  ${x.ready ? "ok  " : "FAIL"} ${x.name}${x.required ? "" : " (optional)"}: ${x.detail}`),
    ];
    io.stdout.write(`${lines.join("\n")}\n`);
    return st.ready ? 0 : 3;
  },
};
