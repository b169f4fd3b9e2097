import type { OutgoingHttpHeaders } from "node:http2";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { proxySecretHeader } from "../../services/kit/proxy-secret.js";

/** Adds to an upstream call's headers (its `:path` already set) who the client is. */
export type VouchForClient = (headers: OutgoingHttpHeaders, clientAddress: string | undefined) => void;

/** The calls that are told the client address: only the users service reads it (sign-in throttling per address). */
const vouchedPathPrefix = `/${UserService.typeName}/`;

/**
 * The one place the edge names the client to a service: its address in
 * x-forwarded-for, vouched for with the proxy secret, so the service can tell
 * the edge's word from any other caller's. Only calls to the users service
 * carry them, so the secret goes nowhere it is not needed. Client headers of
 * these names never get this far: only allow-listed ones are forwarded.
 */
export function createClientVouching(proxySecret: string): VouchForClient {
  return (headers, clientAddress) => {
    if (!clientAddress || !String(headers[":path"]).startsWith(vouchedPathPrefix)) return;
    headers["x-forwarded-for"] = clientAddress;
    if (proxySecret !== "") headers[proxySecretHeader] = proxySecret;
  };
}
