// slowdrip entry point: parse the command line, dispatch, exit with the command's code.
// `slowdrip hash` loads only the hashing code: the bundle evaluates a module when it is first imported, so the rest of
// the CLI (node, store, RPC) costs it nothing at start-up.
const argv = process.argv.slice(2);
if (argv[0] === "hash") {
  const [{ hashCommand }, { defaultIO, runCommand }] = await Promise.all([import("./cli/hash.ts"), import("./cli/dispatch.ts")]);
  process.exitCode = await runCommand(hashCommand, argv.slice(1), defaultIO());
} else {
  const { main } = await import("./cli/index.ts");
  process.exitCode = await main(argv);
}
export {};
