// A verifying hls.js loader: every binary answer (segments, parts, init segments, anything not a playlist) is checked
// against the signed manifest before hls.js sees a byte of it. p2p-media-loader's own validate hooks cover the
// segments it loads; this loader covers what it hands back to hls.js's default loader.
import type { HlsConfig, Loader, LoaderCallbacks, LoaderConfiguration, LoaderContext } from "hls.js";
import type { SegmentEntry } from "../../stream/manifest.ts";
import type { Refusal } from "./trust.ts";

/** What the loader reports. */
export interface LoaderHooks {
  check(url: string, bytes: Uint8Array): Promise<{ entry: SegmentEntry } | Refusal>;
  /** A segment fetched from the origin verified. */
  verified(url: string, entry: SegmentEntry): void;
  /** A segment fetched from the origin was refused. */
  refused(url: string, why: Refusal): void;
  /** The origin asked for payment (HTTP 402). */
  paymentRequired?(): void;
}

type LoaderClass = new (config: HlsConfig) => Loader<LoaderContext>;

/** A subclass of hls.js's loader class `Base` that verifies every binary answer with `hooks`. */
export function verifyingLoader(Base: LoaderClass, hooks: LoaderHooks): LoaderClass {
  return class VerifyingLoader extends Base {
    override load(context: LoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<LoaderContext>): void {
      if (context.responseType !== "arraybuffer") {
        super.load(context, config, callbacks);
        return;
      }
      const wrapped: LoaderCallbacks<LoaderContext> = {
        ...callbacks,
        // Progressive chunks would reach hls.js before the whole segment is checked: none are passed on.
        onProgress: undefined,
        onError: (error, ctx, networkDetails, stats) => {
          if (error.code === 402) hooks.paymentRequired?.();
          callbacks.onError(error, ctx, networkDetails, stats);
        },
        onSuccess: (response, stats, ctx, networkDetails) => {
          const url = response.url || ctx.url;
          const data = response.data;
          if (!(data instanceof ArrayBuffer)) {
            callbacks.onError({ code: 0, text: "segment-structure: binary answer expected" }, ctx, networkDetails, stats);
            return;
          }
          void hooks.check(url, new Uint8Array(data)).then((r) => {
            if ("entry" in r) {
              hooks.verified(url, r.entry);
              callbacks.onSuccess(response, stats, ctx, networkDetails);
            } else {
              hooks.refused(url, r);
              callbacks.onError({ code: 0, text: `${r.code}: ${r.message}` }, ctx, networkDetails, stats);
            }
          });
        },
      };
      super.load(context, { ...config }, wrapped);
    }
  };
}
