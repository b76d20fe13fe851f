// The command table: one line per command; each command lives in its own file.
import type { Command } from "./command.ts";
import { versionCommand } from "./version.ts";

export const commands: Command[] = [
  versionCommand,
];
