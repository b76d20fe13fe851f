// Child process for crash-resume tests: runs one wallet command on a data dir and prints the result as JSON.
// Usage: node test/pay/wallet-child.ts DATA_DIR '{"cmd":"mint","mint":URL,"amount":N}'
// SLOWDRIP_TEST_CRASH_AFTER=<op>:<step> makes the wallet SIGKILL this process right after that step.
import { join } from "node:path";
import { open } from "lmdb";
import { PayWallet } from "../../src/pay/wallet.ts";
import { registerSwap, swapMints } from "../../src/pay/swap.ts";
import { listPending, reclaim } from "../../src/pay/sent.ts";

const [dir, json] = process.argv.slice(2);
if (!dir || !json) throw new Error("usage: wallet-child.ts DATA_DIR JSON");
const c = JSON.parse(json) as Record<string, unknown>;
const root = open({ path: join(dir, "db") });
const wallet = await PayWallet.open({ db: root, trustedMints: (c.trust as string[]) ?? [], quoteWaitMs: 10_000 });
registerSwap(wallet);
let result: unknown;
switch (c.cmd) {
  case "resume":
    result = (await wallet.resume()).map((o) => ({ id: o.id, kind: o.kind, state: o.state }));
    break;
  case "mint":
    result = await wallet.mint(c.mint as string, c.amount as number);
    break;
  case "melt":
    result = await wallet.melt(c.mint as string, c.invoice as string);
    break;
  case "send":
    result = await wallet.send(c.amount as number, { mint: c.mint as string });
    break;
  case "receive":
    result = await wallet.receive(c.token as string);
    break;
  case "swap":
    result = await swapMints(wallet, { from: c.from as string, to: c.to as string, amount: c.amount as number, maxFee: c.maxFee as number });
    break;
  case "reclaim":
    result = await reclaim(wallet, c.op as string);
    break;
  case "state":
    result = {};
    break;
  default:
    throw new Error(`unknown cmd ${String(c.cmd)}`);
}
const out = {
  result,
  balances: wallet.balances(),
  reserved: wallet.reservedBalances(),
  ops: wallet.listOps().map((o) => ({ id: o.id, kind: o.kind, state: o.state })),
  pending: listPending(wallet).map((o) => ({ id: o.id, amount: o.amount, token: o.token })),
  ledger: wallet.ledger.list(),
};
await root.close();
process.stdout.write(JSON.stringify(out) + "\n");
