// `slowdrip receipts`: verify a receipt batch file offline; list, fetch and summarise a node's batches and QoS over RPC.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson } from "@bufbuild/protobuf";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { ReceiptService, ReceiptServiceStatsResponseSchema } from "../gen/slowdrip/v1/proofs_pb.ts";
import { ReceiptError, verifyBatchFile } from "../proofs/receipts.ts";
import { clientFlagOptions, clientFlagUsage, nodeClient } from "./client.ts";
import { CliError, type Command } from "./command.ts";

/** Largest batch file read. */
const MAX_BATCH_FILE = 256 * 1024 * 1024;

function rpcFailure(err: unknown, url: string): never {
  if (err instanceof ConnectError && err.code === Code.Unavailable) throw new CliError(`cannot reach the node at ${url} (${err.rawMessage})`);
  if (err instanceof ConnectError) throw new CliError(`${Code[err.code]}: ${err.rawMessage}`);
  throw err;
}

export const receiptsCommand: Command = {
  name: "receipts",
  usage: [
    "usage: slowdrip receipts verify BATCH_FILE",
    "       slowdrip receipts list [--after ID] [--limit N] [--url URL] [--token TOKEN] [config flags]",
    "       slowdrip receipts get ID [--output FILE] [--url URL] [--token TOKEN] [config flags]",
    "       slowdrip receipts stats [--path PATH] [--url URL] [--token TOKEN] [config flags]",
    "",
    "verify checks a batch file offline: the node's signature over the batch header, every viewer's signature,",
    "that every receipt names the batch's node, and every receipt's inclusion proof against the Merkle root; it",
    "exits 1 naming the first failure. get writes a batch file (stdout without --output); list prints one line",
    "per sealed batch; stats prints the QoS per live path as JSON.",
    "",
    clientFlagUsage,
    "",
    "config flags:",
    configFlagUsage,
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...configFlagOptions, ...clientFlagOptions, after: { type: "string" }, limit: { type: "string" }, output: { type: "string" }, path: { type: "string" } },
      allowPositionals: true,
    });
    const sub = positionals[0];
    if (sub === "verify") {
      if (positionals.length !== 2) throw new CliError("expected: slowdrip receipts verify BATCH_FILE", 2);
      const file = resolve(io.cwd, positionals[1]!);
      let doc: unknown;
      try {
        const text = readFileSync(file);
        if (text.length > MAX_BATCH_FILE) throw new Error(`larger than ${MAX_BATCH_FILE} bytes`);
        doc = JSON.parse(text.toString("utf8"));
      } catch (err) {
        throw new CliError(`cannot read batch file ${file}: ${(err as Error).message}`);
      }
      try {
        const r = verifyBatchFile(doc);
        const h = (doc as { header: { id: number } }).header;
        io.stdout.write(`ok: batch ${h.id} of node ${r.node}, ${r.count} receipts, root ${r.root}: header signature, ${r.count} receipt signatures and ${r.count} inclusion proofs verified\n`);
        return 0;
      } catch (err) {
        if (err instanceof ReceiptError) throw new CliError(err.message, 1);
        throw err;
      }
    }
    if (sub !== "list" && sub !== "get" && sub !== "stats") throw new CliError("expected: slowdrip receipts verify|list|get|stats", 2);
    const c = nodeClient(values, io);
    const client = createClient(ReceiptService, c.transport);
    const opts = { ...c.callOptions, timeoutMs: 30_000 };
    if (sub === "list") {
      const after = values.after === undefined ? 0n : BigInt(/^\d{1,15}$/.test(values.after) ? values.after : "-1");
      if (after < 0n) throw new CliError("--after must be a batch id", 2);
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError("--limit must be 1-1000", 2);
      const r = await client.listBatches({ after, limit }, opts).catch((e: unknown) => rpcFailure(e, c.url));
      for (const b of r.batches) io.stdout.write(`${b.id}\t${new Date(Number(b.createdUnixMs)).toISOString()}\t${b.count} receipts\troot ${b.root}\n`);
      io.stdout.write(`${r.batches.length} batches listed, ${r.pending} receipts pending\n`);
      return 0;
    }
    if (sub === "get") {
      if (positionals.length !== 2 || !/^\d{1,15}$/.test(positionals[1]!)) throw new CliError("expected: slowdrip receipts get ID", 2);
      const r = await client.getBatch({ id: BigInt(positionals[1]!) }, opts).catch((e: unknown) => rpcFailure(e, c.url));
      if (values.output) writeFileSync(resolve(io.cwd, values.output), r.document);
      else io.stdout.write(r.document);
      return 0;
    }
    const r = await client.stats({ path: values.path ?? "" }, opts).catch((e: unknown) => rpcFailure(e, c.url));
    io.stdout.write(`${JSON.stringify(toJson(ReceiptServiceStatsResponseSchema, r), null, 2)}\n`);
    return 0;
  },
};
