// StorageService: the blob store over Connect-RPC; maps store errors to precise codes. Thin: all logic is in store/.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  BlobInfoSchema,
  DeleteResponseSchema,
  FetchBlobResponseSchema,
  ListResponseSchema,
  PinResponseSchema,
  StatResponseSchema,
  StorageService,
  StoreResponseSchema,
  UnpinResponseSchema,
  type BlobInfo,
  type FetchBlobRequest,
  type FetchBlobResponse,
  type StoreRequest,
} from "../gen/slowdrip/v1/storage_pb.ts";
import {
  BusyError,
  CorruptBlobError,
  HashMismatchError,
  ImportAbortedError,
  InvalidHashError,
  NotFoundError,
  PinnedError,
  RangeNotSatisfiableError,
  SizeMismatchError,
  StoreError,
  StoreFullError,
} from "../store/errors.ts";
import type { BlobMeta, BlobStore } from "../store/types.ts";
import type { ErrorMapper } from "./errors.ts";
import type { RpcService } from "./router.ts";

/** What StorageService needs. */
export interface StorageServiceDeps {
  store: BlobStore;
  /** api.max_message_size: FetchBlob data messages stay well below it. */
  maxMessageSize: number;
}

/** Largest data payload per FetchBlob message. */
const MAX_DATA_PER_MESSAGE = 1024 * 1024;

/** BlobMeta as the wire message. */
export function blobInfo(m: BlobMeta): BlobInfo {
  return create(BlobInfoSchema, {
    hash: m.hash,
    size: BigInt(m.size),
    createdUnixMs: BigInt(m.created),
    pinned: m.pinned,
    tags: m.tags,
    source: m.source,
    chunkSize: m.chunkSize,
    outboardSize: BigInt(m.outboardSize),
  });
}

function toSafe(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`${field} ${v} is too large`, Code.InvalidArgument);
  return Number(v);
}

/** Store errors as Connect codes (the RPC error boundary calls this). */
export const storeRpcError: ErrorMapper = (err) => {
  if (!(err instanceof StoreError)) return undefined;
  const c = (code: Code) => new ConnectError(err.message, code, undefined, undefined, err);
  if (err instanceof InvalidHashError || err instanceof SizeMismatchError) return c(Code.InvalidArgument);
  if (err instanceof NotFoundError) return c(Code.NotFound);
  if (err instanceof HashMismatchError || err instanceof CorruptBlobError) return c(Code.DataLoss);
  if (err instanceof StoreFullError || err instanceof BusyError) return c(Code.ResourceExhausted);
  if (err instanceof RangeNotSatisfiableError) return c(Code.OutOfRange);
  if (err instanceof PinnedError) return c(Code.FailedPrecondition);
  if (err instanceof ImportAbortedError) {
    // The request stream itself failed (e.g. a message over the size limit): keep its code.
    if (err.cause instanceof ConnectError) return new ConnectError(`${err.message}: ${err.cause.rawMessage}`, err.cause.code, undefined, undefined, err);
    return c(Code.Canceled);
  }
  return c(Code.Unavailable);
};

/** The StorageService implementation with its access policy. */
export function storageService(deps: StorageServiceDeps): RpcService {
  const { store } = deps;
  if (!store || typeof store.import !== "function") throw new TypeError("storageService needs a BlobStore");
  const perMessage = Math.max(1024, Math.min(MAX_DATA_PER_MESSAGE, deps.maxMessageSize - 1024));

  const impl: ServiceImpl<typeof StorageService> = {
    async store(requests: AsyncIterable<StoreRequest>, ctx: HandlerContext) {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      const header = first.done ? undefined : first.value.header;
      async function* data(): AsyncGenerator<Uint8Array> {
        if (!first.done && first.value.data.byteLength > 0) yield first.value.data;
        for (;;) {
          const n = await it.next();
          if (n.done) return;
          if (n.value.header) throw new ConnectError("Store: the header is only allowed in the first message", Code.InvalidArgument);
          if (n.value.data.byteLength > 0) yield n.value.data;
        }
      }
      const r = await store.import(data(), {
        ...(header?.expectedHash ? { expectedHash: header.expectedHash } : {}),
        ...(header?.size !== undefined ? { size: toSafe(header.size, "size") } : {}),
        ...(header?.tags.length ? { tags: header.tags } : {}),
        pin: header?.pin === true,
        source: "upload",
        signal: ctx.signal,
      });
      return create(StoreResponseSchema, { hash: r.hash, size: BigInt(r.size), created: r.created });
    },

    async *fetchBlob(req: FetchBlobRequest, ctx: HandlerContext): AsyncGenerator<FetchBlobResponse> {
      const offset = toSafe(req.offset, "offset");
      const length = req.length === undefined ? undefined : toSafe(req.length, "length");
      if (req.withProof) {
        // The slice carries the content itself; it is streamed in pieces under the message limit.
        const meta = await store.stat(req.hash);
        const len = Math.min(length ?? meta.size - offset, Math.max(0, meta.size - offset));
        const release = await store.limits.fetch.acquire(ctx.signal);
        let slice: Uint8Array;
        try {
          slice = await store.baoSlice(req.hash, offset, len);
        } finally {
          release();
        }
        const head = create(FetchBlobResponseSchema, { info: blobInfo(meta), offset: BigInt(offset), length: BigInt(len) });
        for (let at = 0; at < slice.byteLength || at === 0; at += perMessage) {
          const part = slice.subarray(at, Math.min(at + perMessage, slice.byteLength));
          if (at === 0) {
            head.baoSlice = part;
            yield head;
          } else {
            yield create(FetchBlobResponseSchema, { baoSlice: part });
          }
        }
        return;
      }
      const s = await store.read(req.hash, offset, length, { signal: ctx.signal });
      try {
        const head = create(FetchBlobResponseSchema, { info: blobInfo(s.meta), offset: BigInt(s.offset), length: BigInt(s.length) });
        let pending: FetchBlobResponse | undefined = head;
        for await (const piece of s) {
          // Each yield waits on the client: the fetch slot goes back meanwhile and is taken again for the next chunk.
          s.pause();
          for (let at = 0; at < piece.byteLength; at += perMessage) {
            const part = piece.subarray(at, Math.min(at + perMessage, piece.byteLength));
            if (pending) {
              pending.data = part;
              yield pending;
              pending = undefined;
            } else {
              yield create(FetchBlobResponseSchema, { data: part });
            }
          }
        }
        if (pending) yield pending;
      } finally {
        s.release();
      }
    },

    async stat(req) {
      return create(StatResponseSchema, { blob: blobInfo(await store.stat(req.hash)) });
    },

    async list(req) {
      const page = await store.list({ ...(req.after ? { after: req.after } : {}), limit: req.limit === 0 ? 100 : req.limit });
      return create(ListResponseSchema, { blobs: page.items.map(blobInfo), next: page.next ?? "" });
    },

    async delete(req) {
      return create(DeleteResponseSchema, { deleted: await store.delete(req.hash, { force: req.force }) });
    },

    async pin(req) {
      return create(PinResponseSchema, { blob: blobInfo(await store.pin(req.hash)) });
    },

    async unpin(req) {
      return create(UnpinResponseSchema, { blob: blobInfo(await store.unpin(req.hash)) });
    },
  };

  return {
    service: StorageService,
    impl,
    access: { Store: "admin", Delete: "admin", Pin: "admin", Unpin: "admin", FetchBlob: "public", Stat: "read", List: "read" },
  };
}
