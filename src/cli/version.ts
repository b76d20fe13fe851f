// `slowdrip version`: prints the program and runtime versions.
import type { Command } from "./command.ts";
import { VERSION } from "../version.ts";

export const versionCommand: Command = {
  name: "version",
  usage: "usage: slowdrip version [--json]\n\nPrints the slowdrip version and the Node runtime it runs on.",
  async run(argv, io) {
    if (argv.includes("--json")) {
      io.stdout.write(`${JSON.stringify({ version: VERSION, node: process.version, arch: process.arch })}\n`);
    } else {
      io.stdout.write(`slowdrip ${VERSION} (node ${process.version}, ${process.platform}/${process.arch})\n`);
    }
    return 0;
  },
};
