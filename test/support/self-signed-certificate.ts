import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl into `dir`; returns the PEM files' paths. */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  return { cert, key };
}
