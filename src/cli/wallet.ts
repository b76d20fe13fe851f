// `slowdrip wallet`: balance, receive, send, pending, reclaim, mint, melt, swap, mints, trust, ledger, sessions over WalletService/PaymentService.
import { parseArgs } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { configFlagOptions, configFlagUsage } from "../config/flags.ts";
import { PaymentService, WalletService, type Operation } from "../gen/slowdrip/v1/wallet_pb.ts";
import { clientFlagOptions, clientFlagUsage, isUnreachable, nodeClient, unreachable, type NodeClient } from "./client.ts";
import { CliError, type Command } from "./command.ts";

const USAGE = [
  "usage: slowdrip wallet <subcommand> [options] [--url URL] [--token TOKEN] [config flags]",
  "",
  "subcommands:",
  "  balance [--check] [--json]                    spendable sats per mint (--check: ask the mints which proofs are spent)",
  "  receive TOKEN                                 redeem a cashuA/cashuB token at its (trusted) mint",
  "  send AMOUNT [--mint URL]                      print a token worth AMOUNT sats (after the receiver's fee)",
  "  pending [--check] [--json]                    sent tokens nobody is known to have claimed (--check: ask the mints)",
  "  reclaim OP_ID                                 take back a sent token its receiver never claimed",
  "  mint AMOUNT --mint URL                        get a Lightning invoice, wait for it to be paid, claim the ecash",
  "  claim OP_ID                                   claim a mint quote paid later (after 'mint' timed out)",
  "  melt INVOICE --mint URL [--max-fee F]         pay a BOLT11 invoice from the wallet",
  "  swap --from A --to B --amount N --max-fee F   move N sats from mint A to mint B, refusing fees above F",
  "  mints [--json]                                known mints: trust, balance",
  "  trust URL | untrust URL                       add a mint to / remove it from the trust list",
  "  ledger [--service S] [--limit N] [--json]     sats received and spent, oldest first",
  "  revenue [--json]                              sats earned and spent per service",
  "  sessions [--json]                             open metered sessions",
  "  pricing [--json]                              what this node charges",
  "",
  "Everything except 'pricing' needs the admin token.",
  "",
  clientFlagUsage,
  "",
  "config flags:",
  configFlagUsage,
].join("\n");

function rpcFailure(err: unknown, c: NodeClient): never {
  if (err instanceof ConnectError) {
    if ((err.code === Code.Unavailable && /fetch failed|ECONNREFUSED|connect/i.test(err.rawMessage)) || isUnreachable(-1, err.rawMessage)) throw unreachable(c, err.rawMessage);
    throw new CliError(`${Code[err.code] ?? err.code}: ${err.rawMessage}`);
  }
  throw err;
}

function amountArg(v: string | undefined, what: string): bigint {
  if (v === undefined || !/^\d{1,15}$/.test(v) || BigInt(v) <= 0n) throw new CliError(`wallet ${what}: AMOUNT must be a positive whole number of sats, got ${v === undefined ? "nothing" : `"${v}"`}`, 2);
  return BigInt(v);
}

function feeArg(v: string | undefined, what: string): bigint {
  if (v === undefined || !/^\d{1,15}$/.test(v)) throw new CliError(`wallet ${what}: --max-fee must be a whole number of sats`, 2);
  return BigInt(v);
}

function opLine(op: Operation | undefined): string {
  if (!op) return "";
  return `${op.kind} ${op.id}: ${op.state}${op.error ? ` (${op.error})` : ""}, ${op.amount} sat, fee ${op.fee} sat`;
}

export const walletCommand: Command = {
  name: "wallet",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        ...configFlagOptions,
        ...clientFlagOptions,
        mint: { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        amount: { type: "string" },
        "max-fee": { type: "string" },
        service: { type: "string" },
        limit: { type: "string" },
        json: { type: "boolean" },
        check: { type: "boolean" },
      },
      allowPositionals: true,
    });
    const [sub, ...rest] = positionals;
    if (sub === undefined) throw new CliError("wallet: missing subcommand (balance, receive, send, pending, reclaim, mint, melt, swap, mints, ledger, ...)", 2);
    const c = nodeClient(values, io);
    const wallet = createClient(WalletService, c.transport);
    const payments = createClient(PaymentService, c.transport);
    const o = c.callOptions;
    const call = async <T>(p: Promise<T>): Promise<T> => {
      try {
        return await p;
      } catch (err) {
        rpcFailure(err, c);
      }
    };
    const noMore = (n: number) => {
      if (rest.length > n) throw new CliError(`wallet ${sub}: unexpected argument "${rest[n]}"`, 2);
    };
    const out = (s: string) => io.stdout.write(`${s}\n`);
    const json = (v: unknown) => out(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? Number(x) : x)));
    switch (sub) {
      case "balance":
      case "mints": {
        noMore(0);
        if (sub === "balance" && values.check) {
          const c = await call(wallet.balance({ check: true }, o));
          if (c.droppedSpent > 0n) io.stderr.write(`dropped ${c.droppedSpent} sat of proofs the mints report spent\n`);
          for (const m of c.unreachable) io.stderr.write(`could not check ${m}\n`);
        }
        const r = await call(wallet.listMints({}, o));
        if (values.json) json(r.mints.map((m) => ({ mint: m.mint, balance: m.balance, reserved: m.reserved, trusted: m.trusted })));
        else {
          for (const m of r.mints) out(`${m.mint}  ${m.balance} sat${m.reserved ? ` (+${m.reserved} in flight)` : ""}${m.trusted ? "" : "  [untrusted]"}`);
          if (sub === "balance") out(`total  ${r.mints.reduce((s, m) => s + m.balance, 0n)} sat`);
        }
        return 0;
      }
      case "receive": {
        noMore(1);
        if (!rest[0]) throw new CliError("wallet receive: missing TOKEN", 2);
        const r = await call(wallet.receive({ token: rest[0] }, o));
        out(`received ${r.credited} sat at ${r.mint} (token ${r.amount} sat, fee ${r.fee} sat)`);
        return 0;
      }
      case "send": {
        noMore(1);
        const r = await call(wallet.send({ amount: amountArg(rest[0], "send"), mint: values.mint ?? "" }, o));
        out(r.token);
        return 0;
      }
      case "pending": {
        noMore(0);
        const r = await call(wallet.listPending({ check: values.check ?? false }, o));
        for (const m of r.unreachable) io.stderr.write(`could not check ${m}\n`);
        if (r.claimed.length) io.stderr.write(`${r.claimed.length} token(s) found claimed and taken off the list\n`);
        if (values.json) json(r.sends);
        else {
          for (const p of r.sends) {
            const paid = p.service ? `  paid ${p.service}${p.peer ? ` to ${p.peer}` : ""}` : "";
            out(`${p.opId}  ${p.amount} sat  ${p.mint}  ${new Date(Number(p.createdUnixMs)).toISOString()}${paid}`);
          }
          if (r.sends.length === 0) out("no unclaimed tokens");
        }
        return 0;
      }
      case "reclaim": {
        noMore(1);
        if (!rest[0]) throw new CliError("wallet reclaim: missing OP_ID (see 'slowdrip wallet pending')", 2);
        const r = await call(wallet.reclaim({ opId: rest[0] }, o));
        out(r.outcome === "reclaimed" ? `reclaimed ${r.credited} sat from ${rest[0]}` : `${rest[0]} was claimed by its receiver; nothing to take back`);
        return 0;
      }
      case "mint": {
        noMore(1);
        const amount = amountArg(rest[0], "mint");
        if (!values.mint) throw new CliError("wallet mint: --mint URL is required", 2);
        const q = await call(wallet.mintQuote({ mint: values.mint, amount }, o));
        io.stderr.write(`pay this invoice to fund ${amount} sat at ${values.mint}:\n${q.request}\n(operation ${q.opId})\n`);
        try {
          const r = await wallet.mint({ opId: q.opId }, o);
          out(`minted ${r.minted} sat at ${values.mint}`);
        } catch (err) {
          if (err instanceof ConnectError && err.code === Code.Unavailable) {
            throw new CliError(`invoice not paid yet; after paying it run: slowdrip wallet claim ${q.opId}`);
          }
          rpcFailure(err, c);
        }
        return 0;
      }
      case "claim": {
        noMore(1);
        if (!rest[0]) throw new CliError("wallet claim: missing OP_ID", 2);
        const r = await call(wallet.mint({ opId: rest[0] }, o));
        out(`minted ${r.minted} sat (${opLine(r.op)})`);
        return 0;
      }
      case "melt": {
        noMore(1);
        if (!rest[0]) throw new CliError("wallet melt: missing INVOICE", 2);
        if (!values.mint) throw new CliError("wallet melt: --mint URL is required", 2);
        const q = await call(wallet.meltQuote({ mint: values.mint, invoice: rest[0] }, o));
        const maxFee = values["max-fee"] === undefined ? undefined : feeArg(values["max-fee"], "melt");
        const r = await call(wallet.melt({ opId: q.opId, ...(maxFee !== undefined ? { maxFee } : {}) }, o));
        out(`paid ${q.amount} sat (${opLine(r.op)})${r.preimage ? ` preimage ${r.preimage}` : ""}`);
        return 0;
      }
      case "swap": {
        noMore(0);
        if (!values.from || !values.to) throw new CliError("wallet swap: --from URL and --to URL are required", 2);
        const r = await call(
          wallet.swap({ fromMint: values.from, toMint: values.to, amount: amountArg(values.amount, "swap"), maxFee: feeArg(values["max-fee"], "swap") }, o),
        );
        out(`swapped: ${opLine(r.op)}`);
        return 0;
      }
      case "trust":
      case "untrust": {
        noMore(1);
        if (!rest[0]) throw new CliError(`wallet ${sub}: missing URL`, 2);
        await call<unknown>(sub === "trust" ? wallet.trustMint({ mint: rest[0] }, o) : wallet.untrustMint({ mint: rest[0] }, o));
        out(`${sub === "trust" ? "trusted" : "untrusted"} ${rest[0]}`);
        return 0;
      }
      case "ledger": {
        noMore(0);
        const limit = values.limit === undefined ? 100 : Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new CliError("wallet ledger: --limit must be 1..10000", 2);
        const r = await call(payments.ledger({ limit, service: values.service ?? "" }, o));
        if (values.json) json(r.entries);
        else {
          for (const e of r.entries) {
            const extra = [e.service && `service=${e.service}`, e.peer && `peer=${e.peer}`, e.bytes ? `bytes=${e.bytes}` : ""].filter(Boolean).join(" ");
            out(`${new Date(Number(e.timeUnixMs)).toISOString()}  ${e.direction === "in" ? "+" : "-"}${e.amount} sat  ${e.kind}  ${e.mint}${extra ? `  ${extra}` : ""}`);
          }
        }
        return 0;
      }
      case "revenue": {
        noMore(0);
        const r = await call(payments.revenue({}, o));
        if (values.json) json(r);
        else {
          for (const s of r.services) out(`${s.service}  earned ${s.earned} sat  spent ${s.spent} sat  (${s.entries} entries)`);
          out(`total  earned ${r.totalEarned} sat  spent ${r.totalSpent} sat`);
        }
        return 0;
      }
      case "sessions": {
        noMore(0);
        const r = await call(payments.listSessions({}, o));
        if (values.json) json(r.sessions);
        else for (const s of r.sessions) out(`${s.idPrefix}…  ${s.service}  ${s.client}  paid ${s.paid} sat  left ${s.left}/${s.total}`);
        return 0;
      }
      case "pricing": {
        noMore(0);
        const r = await call(payments.getPricing({}, o));
        if (values.json) json(r);
        else {
          out(`charging: ${r.enabled ? "yes" : "no"}`);
          for (const s of r.services) out(`${s.service}  ${s.rate} ${r.unit} per ${s.per}`);
          out(`accepted mints: ${r.acceptedMints.join(" ") || "(none)"}`);
        }
        return 0;
      }
      default:
        throw new CliError(`wallet: unknown subcommand "${sub}"`, 2);
    }
  },
};
