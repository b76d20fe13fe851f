// Test helper: self-signed TLS certificates made at test time with openssl (no key is ever committed).
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** A certificate and key on disk, with the certificate's SHA-256 fingerprint as openssl prints it. */
export interface TestCert {
  cert: string;
  key: string;
  /** "AB:CD:..." (openssl's format). */
  fingerprint: string;
}

/** Makes a P-256 self-signed certificate for `names` (IP addresses or DNS names) in `dir`. */
export function makeCert(dir: string, name: string, names: string[] = ["127.0.0.1", "localhost"]): TestCert {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", `/CN=slowdrip-test-${name}`, "-addext", `subjectAltName=${san}`, "-keyout", key, "-out", cert,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  const out = execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256", "-in", cert], { encoding: "utf8" });
  return { cert, key, fingerprint: out.trim().split("=")[1]! };
}
