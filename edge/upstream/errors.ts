import type { IncomingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { Rejection } from "../protections/rejections.js";

const statusNames = ["grpc-status", "grpc-message", "grpc-status-details-bin"] as const;

/**
 * An upstream gRPC status (trailers, or the headers of a trailers-only
 * answer) as a clean Connect error, read by connect-es: the same code and
 * message, and the google.rpc details from grpc-status-details-bin, but
 * none of the upstream's headers or trailers. Undefined for OK.
 */
export function upstreamErrorOf(status: IncomingHttpHeaders): ConnectError | undefined {
  const headers = new Headers();
  for (const name of statusNames) {
    const value = status[name];
    if (typeof value === "string") headers.set(name, value);
  }
  let found: ConnectError | undefined;
  try {
    found = findTrailerError(headers);
  } catch {
    // Undecodable details or a grpc-message that is not percent-encoding: the code and message stay, as sent.
    const code = Number(headers.get("grpc-status"));
    found = new ConnectError(headers.get("grpc-message") ?? "", code in Code ? code : Code.Unknown);
  }
  if (!found) return undefined;
  const clean = new ConnectError(found.rawMessage, found.code);
  clean.details = found.details;
  return clean;
}

/** UNAVAILABLE (SERVICE_UNAVAILABLE) for an upstream that cannot be reached or went away mid-call. */
export function unavailable(): Rejection {
  return new Rejection({ code: Code.Unavailable, reason: "SERVICE_UNAVAILABLE", message: "the service is unavailable; retry" });
}
