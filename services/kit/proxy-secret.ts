import { readFileSync } from "node:fs";
import { settings } from "./config.js";

/**
 * The request header with which the edge vouches for the client address it
 * passes in x-forwarded-for. The edge forwards only allow-listed client
 * headers, so a client's own copy of this one never reaches a service.
 */
export const proxySecretHeader = "x-launchpad-proxy-secret";

/** The settings of the proxy secret, read alike by the edge and the users service. */
export const proxySecretSettings = {
  proxySecret: {
    ...settings.string(
      "LAUNCHPAD_PROXY_SECRET",
      "",
      "Secret the edge sends with each forwarded client address; services trust x-forwarded-for only with it (--target=all makes one)",
    ),
    redact: () => "[redacted]",
  },
  proxySecretFile: settings.string("LAUNCHPAD_PROXY_SECRET_FILE", "", "File holding LAUNCHPAD_PROXY_SECRET, instead of the variable"),
};

/** The least secret accepted, in characters. */
const minimumLength = 16;

/** The proxy secret from the variable or its file; empty when neither is set. */
export function loadProxySecret(source: { proxySecret: string; proxySecretFile: string }): string {
  const secret = source.proxySecret !== "" ? source.proxySecret : source.proxySecretFile !== "" ? readFileSync(source.proxySecretFile, "utf8").trim() : "";
  if (secret !== "" && secret.length < minimumLength) {
    throw new Error(`the proxy secret is shorter than ${minimumLength} characters; make one with: openssl rand -base64 32`);
  }
  return secret;
}
