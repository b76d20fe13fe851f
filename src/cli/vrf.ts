// `slowdrip vrf prove|verify`: ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) from the command line, for interop checks.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { decodeKeypair } from "../identity/identity.ts";
import { hex, unhex } from "../identity/hex.ts";
import { VrfError, VrfProver, vrfVerify } from "../proofs/vrf.ts";
import { CliError, type Command } from "./command.ts";

function hexArg(value: string | undefined, flag: string, bytes?: number): Uint8Array {
  if (value === undefined) throw new CliError(`--${flag} is required`, 2);
  try {
    return unhex(value.toLowerCase(), bytes);
  } catch (err) {
    throw new CliError(`--${flag} must be ${bytes ? `${bytes * 2} hex characters` : "hex"}: ${(err as Error).message}`, 2);
  }
}

export const vrfCommand: Command = {
  name: "vrf",
  usage: [
    "usage: slowdrip vrf prove (--secret HEX | --key FILE) --message HEX",
    "       slowdrip vrf verify --public HEX --proof HEX --message HEX",
    "",
    "prove prints 'pi=<hex> beta=<hex>' for the message under a 32-byte secret seed (--secret, the RFC's SK) or the",
    "secret of a keypair file (--key, e.g. <data_dir>/keypair or one made by 'slowdrip keygen'); the VRF public key",
    "is the key's Ed25519 public key (its node id).",
    "verify prints 'beta=<hex>' and exits 0 when the 80-byte proof is valid for the 32-byte public key and message;",
    "otherwise it exits 1 naming the failed check (bad-key-encoding, small-order-key, bad-proof-length,",
    "bad-gamma-encoding, s-out-of-range, challenge-mismatch). --message '' is the empty message.",
  ].join("\n"),
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        secret: { type: "string" },
        key: { type: "string" },
        public: { type: "string" },
        proof: { type: "string" },
        message: { type: "string" },
      },
      allowPositionals: true,
    });
    const sub = positionals[0];
    if (positionals.length !== 1 || (sub !== "prove" && sub !== "verify")) throw new CliError("expected: slowdrip vrf prove|verify ...", 2);
    const message = hexArg(values.message, "message");
    if (sub === "prove") {
      if ((values.secret === undefined) === (values.key === undefined)) throw new CliError("give exactly one of --secret HEX and --key FILE", 2);
      let secret: Uint8Array;
      if (values.secret !== undefined) {
        secret = hexArg(values.secret, "secret", 32);
      } else {
        const file = resolve(io.cwd, values.key!);
        let text: string;
        try {
          text = readFileSync(file, "utf8");
        } catch (err) {
          throw new CliError(`cannot read --key ${file}: ${(err as Error).message}`);
        }
        secret = decodeKeypair(text, file).secretKey;
      }
      const { pi, beta } = new VrfProver(secret).prove(message);
      io.stdout.write(`pi=${hex(pi)} beta=${hex(beta)}\n`);
      return 0;
    }
    const publicKey = hexArg(values.public, "public", 32);
    const proof = hexArg(values.proof, "proof");
    try {
      io.stdout.write(`beta=${hex(vrfVerify(publicKey, message, proof))}\n`);
      return 0;
    } catch (err) {
      if (err instanceof VrfError) throw new CliError(`invalid proof: ${err.message}`, 1);
      throw err;
    }
  },
};
