import type { IncomingHttpHeaders } from "node:http";
import { restRefusal } from "./refusals.js";

const grpcUnits: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * The client's deadline in milliseconds, from the first of these headers it
 * sent: `Grpc-Timeout` (gRPC syntax: up to 8 digits and a unit H, M, S, m, u
 * or n, e.g. `5S`), `Connect-Timeout-Ms`, or `X-Timeout-Ms` (milliseconds,
 * up to 10 digits). Undefined when none is sent; INVALID_ARGUMENT
 * (INVALID_HEADER) when the one sent is malformed.
 */
export function requestTimeoutMs(headers: IncomingHttpHeaders): number | undefined {
  const grpc = headerValue(headers, "grpc-timeout");
  if (grpc !== undefined) {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    if (!match) throw restRefusal("INVALID_HEADER", "grpc-timeout", `invalid Grpc-Timeout header "${grpc}": expected up to 8 digits and a unit H, M, S, m, u or n`);
    return Math.max(1, Math.ceil(Number(match[1]) * grpcUnits[match[2]!]!));
  }
  for (const name of ["connect-timeout-ms", "x-timeout-ms"]) {
    const value = headerValue(headers, name);
    if (value === undefined) continue;
    if (!/^\d{1,10}$/.test(value)) throw restRefusal("INVALID_HEADER", name, `invalid ${name} header "${value}": expected milliseconds, up to 10 digits`);
    return Number(value);
  }
  return undefined;
}

/** A header's value; the first when it was sent more than once. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
