// CLI command contract: every command is a small object with a name, help text and a run function.

/** Streams a command writes to; tests pass their own. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** One `slowdrip <name>` command (its summary is in the table, commands.ts). `run` returns the process exit code. */
export interface Command {
  name: string;
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

/** A user error: printed as one line on stderr, exit code 2 (usage) or 1 (failure). */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
