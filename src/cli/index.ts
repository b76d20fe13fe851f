// CLI dispatcher: finds the command, runs it, turns errors into one line and an exit code.
import { CliError, type CliIO, type Command } from "./command.ts";
import { commands } from "./commands.ts";

function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}

/** Usage text listing every command. */
export function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: slowdrip <command> [options]",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'slowdrip <command> --help' for a command's options. With no command, 'run' is used.",
    "",
  ].join("\n");
}

/** Runs the CLI with the given arguments and returns the exit code. */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const first = argv[0];
  if (first === "--help" || first === "-h" || first === "help") {
    io.stdout.write(topHelp());
    return 0;
  }
  if (first === "--version" || first === "-v") argv = ["version"];
  let cmd: Command | undefined;
  let rest: string[];
  if (first === undefined || first.startsWith("-")) {
    cmd = commands.find((c) => c.name === "run");
    rest = argv;
  } else {
    cmd = commands.find((c) => c.name === first);
    rest = argv.slice(1);
  }
  if (!cmd) {
    io.stderr.write(`slowdrip: unknown command '${first}' (see 'slowdrip --help')\n`);
    return 2;
  }
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
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, "; ");
}
