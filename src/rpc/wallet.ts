// WalletService and PaymentService over Connect-RPC; maps pay errors to precise codes. Thin: all logic is in pay/.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  BalanceResponseSchema,
  GetPricingResponseSchema,
  LedgerEntrySchema,
  LedgerResponseSchema,
  ListMintsResponseSchema,
  ListPendingResponseSchema,
  ListSessionsResponseSchema,
  MeltQuoteResponseSchema,
  MeltResponseSchema,
  MintBalanceSchema,
  MintQuoteResponseSchema,
  MintResponseSchema,
  OperationSchema,
  PaymentService,
  PendingSendSchema,
  ReceiveResponseSchema,
  ReclaimResponseSchema,
  RevenueResponseSchema,
  SendResponseSchema,
  ServicePriceSchema,
  ServiceRevenueSchema,
  SessionSchema,
  SwapResponseSchema,
  TrustMintResponseSchema,
  UntrustMintResponseSchema,
  WalletService,
  type Operation,
} from "../gen/slowdrip/v1/wallet_pb.ts";
import {
  FeeCapError,
  InsufficientFundsError,
  MintCallError,
  OpPendingError,
  OpStateError,
  PayError,
  TokenError,
  UntrustedMintError,
} from "../pay/errors.ts";
import type { Gate } from "../pay/gate.ts";
import { SERVICES, type Pricing } from "../pay/pricing.ts";
import type { SessionStore } from "../pay/session.ts";
import { checkPending, listPending, reclaim } from "../pay/sent.ts";
import type { OpRecord } from "../pay/store.ts";
import { swapMints } from "../pay/swap.ts";
import type { PayWallet } from "../pay/wallet.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";

/** Pay errors as Connect codes. */
export const payRpcError: ErrorMapper = (err) => {
  if (!(err instanceof PayError)) return undefined;
  const c = (code: Code) => new ConnectError(err.message, code, undefined, undefined, err);
  if (err instanceof TokenError) return c(Code.InvalidArgument);
  if (err instanceof UntrustedMintError || err instanceof InsufficientFundsError || err instanceof FeeCapError) return c(Code.FailedPrecondition);
  if (err instanceof MintCallError) return c(Code.Unavailable);
  if (err instanceof OpPendingError) return c(Code.Unavailable);
  if (err instanceof OpStateError) return c(Code.FailedPrecondition);
  if (err.code === "fee-cap") return c(Code.FailedPrecondition);
  return c(Code.FailedPrecondition);
};

function sats(v: bigint, field: string): number {
  if (v <= 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`${field} must be between 1 and ${Number.MAX_SAFE_INTEGER}`, Code.InvalidArgument);
  return Number(v);
}

function need(s: string, field: string): string {
  if (!s) throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  return s;
}

/** An operation record as the wire message. */
export function operation(op: OpRecord): Operation {
  return create(OperationSchema, {
    id: op.id,
    kind: op.kind,
    state: op.state,
    mint: op.mint,
    amount: BigInt(op.amount),
    fee: BigInt(Math.max(0, op.fee ?? 0)),
    error: op.error ?? "",
    createdUnixMs: BigInt(op.createdAt),
    updatedUnixMs: BigInt(op.updatedAt),
    claim: op.claim ?? "",
  });
}

function mintRows(wallet: PayWallet) {
  const reserved = wallet.reservedBalances();
  return wallet.listMints().map((m) =>
    create(MintBalanceSchema, { mint: m.url, balance: BigInt(m.balance), reserved: BigInt(reserved[m.url] ?? 0), trusted: m.trusted }),
  );
}

/** WalletService (every method needs the admin token). */
export function walletService(deps: { wallet: PayWallet }): RpcService {
  const { wallet } = deps;
  if (!wallet) throw new TypeError("walletService needs a wallet");
  const impl: ServiceImpl<typeof WalletService> = {
    async balance(req) {
      let dropped = 0;
      const unreachable: string[] = [];
      if (req.check) {
        for (const mint of Object.keys(wallet.balances())) {
          try {
            dropped += (await wallet.checkProofs(mint)).spent;
          } catch {
            unreachable.push(mint);
          }
        }
      }
      const mints = mintRows(wallet);
      return create(BalanceResponseSchema, { mints, total: mints.reduce((s, m) => s + m.balance, 0n), droppedSpent: BigInt(dropped), unreachable });
    },
    async receive(req) {
      const r = await wallet.receive(need(req.token, "token"));
      return create(ReceiveResponseSchema, { mint: r.mint, amount: BigInt(r.amount), fee: BigInt(r.fee), credited: BigInt(r.credited), opId: r.opId });
    },
    async send(req, ctx) {
      // A caller that goes away (disconnect, deadline) before the reply never gets the token: the wallet keeps it.
      const r = await wallet.send(sats(req.amount, "amount"), { signal: ctx.signal, ...(req.mint ? { mint: req.mint } : {}) });
      return create(SendResponseSchema, { token: r.token, mint: r.mint, amount: BigInt(r.amount), fee: BigInt(r.fee), opId: r.opId });
    },
    async mintQuote(req) {
      const op = await wallet.createMintQuote(need(req.mint, "mint"), sats(req.amount, "amount"));
      return create(MintQuoteResponseSchema, { opId: op.id, quote: op.mintQuote!.quote, request: op.mintQuote!.request, amount: BigInt(op.amount) });
    },
    async mint(req) {
      const op = await wallet.completeMint(need(req.opId, "op_id"));
      return create(MintResponseSchema, { op: operation(op), minted: BigInt(op.credited ?? 0) });
    },
    async meltQuote(req) {
      const op = await wallet.createMeltQuote(need(req.mint, "mint"), need(req.invoice, "invoice"));
      return create(MeltQuoteResponseSchema, { opId: op.id, quote: op.meltQuote!.quote, amount: BigInt(op.meltQuote!.amount), feeReserve: BigInt(op.meltQuote!.feeReserve) });
    },
    async melt(req) {
      const id = need(req.opId, "op_id");
      const cur = wallet.getOp(id);
      if (cur && cur.kind === "melt" && cur.state === "quoted" && req.maxFee !== undefined && BigInt(cur.meltQuote!.feeReserve) > req.maxFee) {
        throw new FeeCapError(cur.meltQuote!.feeReserve, Number(req.maxFee));
      }
      const op = await wallet.completeMelt(id);
      return create(MeltResponseSchema, { op: operation(op), preimage: op.preimage ?? "" });
    },
    async swap(req) {
      const op = await swapMints(wallet, {
        from: need(req.fromMint, "from_mint"),
        to: need(req.toMint, "to_mint"),
        amount: sats(req.amount, "amount"),
        maxFee: Number(req.maxFee > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : req.maxFee),
      });
      return create(SwapResponseSchema, { op: operation(op) });
    },
    listMints() {
      return create(ListMintsResponseSchema, { mints: mintRows(wallet) });
    },
    async trustMint(req) {
      await wallet.trustMint(need(req.mint, "mint"));
      return create(TrustMintResponseSchema, {});
    },
    async untrustMint(req) {
      await wallet.untrustMint(need(req.mint, "mint"));
      return create(UntrustMintResponseSchema, {});
    },
    async listPending(req) {
      const limit = req.limit === 0 ? 100 : Math.min(req.limit, 10_000);
      const checked = req.check ? await checkPending(wallet) : { claimed: [], unreachable: [] };
      const sends = listPending(wallet, limit).map((op) =>
        create(PendingSendSchema, {
          opId: op.id,
          mint: op.mint,
          amount: BigInt(op.amount),
          token: op.token ?? "",
          createdUnixMs: BigInt(op.createdAt),
          service: op.ctx?.service ?? "",
          peer: op.ctx?.peer ?? "",
        }),
      );
      return create(ListPendingResponseSchema, { sends, ...checked });
    },
    async reclaim(req) {
      const r = await reclaim(wallet, need(req.opId, "op_id"));
      return create(ReclaimResponseSchema, { outcome: r.outcome, credited: BigInt(r.credited), op: operation(r.op) });
    },
  };
  const access = Object.fromEntries(WalletService.methods.map((m) => [m.name, "admin" as const]));
  return { service: WalletService, impl, access };
}

/** PaymentService (GetPricing is public; the rest need the admin token). */
export function paymentService(deps: { wallet: PayWallet; pricing: Pricing; sessions: SessionStore; gate: Gate }): RpcService {
  const { wallet, pricing, sessions, gate } = deps;
  const limit = (n: number, def: number) => (n === 0 ? def : Math.min(n, 10_000));
  const impl: ServiceImpl<typeof PaymentService> = {
    getPricing() {
      const c = pricing.config;
      return create(GetPricingResponseSchema, {
        enabled: c.enabled,
        services: SERVICES.map((s) => {
          const p = pricing.service(s);
          return create(ServicePriceSchema, { service: s, rate: BigInt(p.rate), per: p.unit === "byte" ? "MiB" : "minute" });
        }),
        freeAllowance: BigInt(c.freeAllowance),
        freePeers: [...c.freePeers],
        freePaths: [...c.freePaths],
        acceptedMints: gate.acceptedMints(),
        unit: wallet.unit,
      });
    },
    listSessions(req) {
      const list = sessions.list(limit(req.limit, 100));
      return create(ListSessionsResponseSchema, {
        open: sessions.count(),
        sessions: list.map((s) =>
          create(SessionSchema, {
            idPrefix: s.idPrefix,
            service: s.service,
            client: s.client,
            mint: s.mint,
            paid: BigInt(s.paid),
            total: BigInt(s.total),
            left: BigInt(s.left),
            used: BigInt(s.used),
            createdUnixMs: BigInt(s.createdAt),
            lastUsedUnixMs: BigInt(s.lastUsedAt),
          }),
        ),
      });
    },
    ledger(req) {
      const entries = wallet.ledger.list({ since: Number(req.sinceUnixMs), limit: limit(req.limit, 100), ...(req.service ? { service: req.service } : {}) });
      return create(LedgerResponseSchema, {
        entries: entries.map((e) =>
          create(LedgerEntrySchema, {
            timeUnixMs: BigInt(e.time),
            direction: e.direction,
            kind: e.kind,
            amount: BigInt(e.amount),
            mint: e.mint,
            peer: e.peer ?? "",
            service: e.service ?? "",
            bytes: BigInt(e.bytes ?? 0),
            opId: e.opId ?? "",
          }),
        ),
      });
    },
    revenue(req) {
      const t = wallet.ledger.totals({ since: Number(req.sinceUnixMs) });
      const services = Object.entries(t).map(([service, v]) =>
        create(ServiceRevenueSchema, { service, earned: BigInt(v.in), spent: BigInt(v.out), entries: BigInt(v.entries) }),
      );
      return create(RevenueResponseSchema, {
        services,
        totalEarned: services.reduce((s, x) => s + x.earned, 0n),
        totalSpent: services.reduce((s, x) => s + x.spent, 0n),
      });
    },
  };
  const access = Object.fromEntries(PaymentService.methods.map((m) => [m.name, m.name === "GetPricing" ? ("public" as const) : ("admin" as const)]));
  return { service: PaymentService, impl, access };
}
