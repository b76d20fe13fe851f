// Where a verified download goes: stdout, or FILE written as FILE.part and renamed only once everything verified.
import { createWriteStream, openSync, renameSync, unlinkSync } from "node:fs";
import { once } from "node:events";
import { resolve } from "node:path";
import { CliError, type CliIO } from "./command.ts";

/**
 * Writes `source` to stdout, or to `out` (relative to the cwd) through `out.part`, renamed when the source ended
 * without error. On failure the part file is removed and the error rethrown as a CliError (`failure` turns other errors,
 * e.g. RPC ones, into one) ending in "; nothing written" when a file was the target.
 */
export async function writeOutput(source: AsyncIterable<Uint8Array>, io: CliIO, out: string | undefined, failure: (err: unknown) => never): Promise<void> {
  const target = out === undefined ? undefined : resolve(io.cwd, out);
  const part = target === undefined ? undefined : `${target}.part`;
  // Opened here, synchronously: a refusal (a missing directory, the appliance build's permission model) is then one
  // error line before anything is fetched, not an unhandled stream error.
  const sink: NodeJS.WritableStream = part === undefined ? io.stdout : createWriteStream(part, { fd: openSync(part, "w", 0o644) });
  try {
    for await (const piece of source) if (piece.byteLength > 0 && !sink.write(piece)) await once(sink, "drain");
    if (part !== undefined && target !== undefined) {
      (sink as NodeJS.WritableStream & { end(cb: () => void): void }).end(() => undefined);
      await once(sink, "close");
      renameSync(part, target);
    }
  } catch (err) {
    if (part !== undefined) {
      (sink as unknown as { destroy(): void }).destroy();
      try {
        unlinkSync(part);
      } catch {
        // nothing written yet
      }
    }
    let e = err;
    if (!(e instanceof CliError)) {
      try {
        failure(err);
      } catch (mapped) {
        e = mapped;
      }
    }
    if (e instanceof CliError) throw new CliError(`${e.message}${part ? "; nothing written" : ""}`, e.exitCode);
    throw e;
  }
}
