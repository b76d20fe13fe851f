// Swap liquidity cache against real nutshell mints: a swap out of a mint whose Lightning payments fail is recorded as a
// failed pair, a swap the other way as a good one (fee, latency), and the payer's route choice puts the good pair first.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMints, stopMints, type TestMint } from "../peers/mints.ts";
import { tempWallet, type TempDb } from "./helpers.ts";
import { PayError } from "../../src/pay/errors.ts";
import { liquidityOf, swapRoutes } from "../../src/pay/liquidity.ts";
import { registerSwap, swapMints } from "../../src/pay/swap.ts";

let good: TestMint[] = [];
let failing: TestMint[] = [];
const dbs: TempDb[] = [];

beforeAll(async () => {
  [good, failing] = await Promise.all([
    startMints(1),
    // A mint whose Lightning payments fail: the real mint refuses its melts, so swaps out of it fail.
    startMints(1, { fakeWallet: { FAKEWALLET_PAY_INVOICE_STATE: "FAILED" } }),
  ]);
}, 300_000);

afterAll(async () => {
  for (const d of dbs) await d.close();
  await stopMints([...good, ...failing]);
});

describe("swap liquidity cache (real nutshell mints)", () => {
  it("records each pair's outcome and deprioritises the pair that failed", async () => {
    const [A, X] = [good[0]!.url, failing[0]!.url];
    const { wallet: w, db } = await tempWallet([A, X]);
    dbs.push(db);
    registerSwap(w);
    await w.mint(A, 100);
    await w.mint(X, 100);
    // Without history, the payee's order decides: into A (from X) first.
    expect(swapRoutes(w.balances(), [A, X], () => 30, liquidityOf(w))[0]).toEqual({ from: X, to: A });

    await expect(swapMints(w, { from: X, to: A, amount: 20, maxFee: 10 })).rejects.toBeInstanceOf(PayError);
    expect(liquidityOf(w).get(X, A)).toMatchObject({ ok: 0, failed: 1, failStreak: 1 });

    const op = await swapMints(w, { from: A, to: X, amount: 20, maxFee: 10 });
    expect(op.state).toBe("done");
    const s = liquidityOf(w).get(A, X)!;
    expect(s).toMatchObject({ ok: 1, failed: 0, failStreak: 0 });
    expect(s.feeAvg).toBe(op.fee ?? 0);
    expect(s.latencyAvgMs).toBeGreaterThan(0);

    // Now the pair that worked comes first, the failed one last.
    const routes = swapRoutes(w.balances(), [A, X], () => 30, liquidityOf(w));
    expect(routes[0]).toEqual({ from: A, to: X });
    expect(routes.at(-1)).toEqual({ from: X, to: A });
  }, 180_000);
});
