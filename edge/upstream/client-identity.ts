import type { OutgoingHttpHeaders } from "node:http2";
import { proxySecretHeader } from "../../services/kit/proxy-secret.js";

/** Adds to an upstream call's headers who the client is. */
export type VouchForClient = (headers: OutgoingHttpHeaders, clientAddress: string | undefined) => void;

/**
 * The one place the edge names the client to a service: its address in
 * x-forwarded-for, vouched for with the proxy secret, so the service can tell
 * the edge's word from any other caller's. Client headers of these names
 * never get this far: only allow-listed ones are forwarded.
 */
export function createClientVouching(proxySecret: string): VouchForClient {
  return (headers, clientAddress) => {
    if (!clientAddress) return;
    headers["x-forwarded-for"] = clientAddress;
    if (proxySecret !== "") headers[proxySecretHeader] = proxySecret;
  };
}
