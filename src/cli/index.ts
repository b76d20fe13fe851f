// CLI dispatcher: finds the command, runs it, turns errors into one line and an exit code.
import type { CliIO } from "./command.ts";
import { defaultIO, runCommand } from "./dispatch.ts";
import { commands, type CommandEntry } from "./commands.ts";

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
  let first = argv[0];
  if (first === "--help" || first === "-h" || first === "help") {
    io.stdout.write(topHelp());
    return 0;
  }
  if (first === "--version" || first === "-v") {
    argv = ["version"];
    first = "version";
  }
  let cmd: CommandEntry | undefined;
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
  return runCommand(await cmd.load(), rest, io);
}
