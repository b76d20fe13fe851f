// slowdrip entry point: parse the command line, dispatch, exit with the command's code. The command table loads only
// the command that runs (the bundle evaluates a module when it is first imported).
import { main } from "./cli/index.ts";

process.exitCode = await main(process.argv.slice(2));
