// slowdrip entry point: parse the command line, dispatch, exit with the command's code.
import { main } from "./cli/index.ts";

process.exitCode = await main(process.argv.slice(2));
