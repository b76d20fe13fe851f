// Runs one command: --help prints its usage; errors become one line on stderr and an exit code. Light on purpose: it
// is loaded before the command, whatever the command.
import { CliError, type CliIO, type Command } from "./command.ts";
import { describeAccessDenied } from "../node/permission.ts";

/** The process's own streams, environment and working directory. */
export function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}

/** Runs `cmd` with its arguments and returns the exit code. */
export async function runCommand(cmd: Command, rest: string[], io: CliIO): Promise<number> {
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout.write(`${cmd.usage.trimEnd()}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest, io);
  } catch (err) {
    io.stderr.write(`slowdrip ${cmd.name}: ${oneLine(err)}\n`);
    return err instanceof CliError ? err.exitCode : isUsageError(err) ? 2 : 1;
  }
}

function isUsageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

function oneLine(err: unknown): string {
  const msg = describeAccessDenied(err) ?? (err instanceof Error ? err.message : String(err));
  return msg.replace(/\s*\n\s*/g, "; ");
}
