import type { Http2ServerResponse, OutgoingHttpHeaders } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { Rejection } from "../protections/rejections.js";
import { httpStatusOf, retryAfterSeconds, statusJson } from "../rest/errors.js";
import type { Protocol } from "../routing/classify.js";
import { endStreamFrame, grpcStatusHeaders, trailerFrame, type GrpcStatus } from "./wire.js";
import { base64Chunk } from "./web-text.js";

/** The response content type of each gRPC-family protocol, and of Connect streams, by codec. */
export function responseContentType(protocol: Protocol, req: EdgeRequest): string {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
  if (type !== "") return type;
  return protocol === "connect-stream" ? "application/connect+proto" : `application/${protocol}+proto`;
}

/** Whether a protocol carries its status in gRPC trailers (or a trailer frame) rather than an HTTP status. */
export function isGrpcFamily(protocol: Protocol): boolean {
  return protocol === "grpc" || protocol === "grpc-web" || protocol === "grpc-web-text";
}

/** The end of a gRPC-family answer that carries `status`: trailers, or a trailer frame (base64 in text mode). */
export function endWithStatus(res: EdgeResponse, protocol: Protocol, status: GrpcStatus): void {
  if (protocol === "grpc") {
    (res as Http2ServerResponse).addTrailers(status);
    res.end();
  } else {
    const trailers = trailerFrame(status);
    res.end(protocol === "grpc-web-text" ? base64Chunk(trailers) : trailers);
  }
}

/**
 * Writes any error the edge produces or relays, in the request's own
 * protocol, with its google.rpc details:
 * - gRPC and gRPC-Web (binary and text): a trailers-only response, one
 *   header block with :status 200 and the status (grpc-status,
 *   grpc-message, grpc-status-details-bin) ending the stream (over HTTP/2
 *   one HEADERS frame with END_STREAM); once headers have gone out, the
 *   status follows as trailers or a trailer frame;
 * - Connect unary: the HTTP status with a Connect error JSON body;
 * - Connect streams: HTTP 200 with an end-stream message carrying the
 *   error, since Connect clients map any other status to a generic code;
 * - REST and plain HTTP: google.rpc.Status JSON with grpc-gateway's status.
 * A Rejection's own HTTP status (413, 429, 405…) wins over the code's. The
 * error's metadata (retry-after) and `extraHeaders` (e.g. `connection:
 * close`) are added. Other protocols whose headers have gone out can only be
 * cut off: the response is destroyed.
 */
export function sendError(
  req: EdgeRequest,
  res: EdgeResponse,
  protocol: Protocol,
  error: ConnectError,
  extraHeaders: OutgoingHttpHeaders = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  const grpc = isGrpcFamily(protocol);
  if (res.headersSent) {
    if (grpc) return endWithStatus(res, protocol, grpcStatusHeaders(error));
    if (protocol === "connect-stream") return void res.end(endStreamFrame(error));
    return void res.destroy();
  }

  const headers: OutgoingHttpHeaders = { ...extraHeaders };
  // A Connect stream carries the metadata in its end-stream message; clients would add header and trailer together.
  if (protocol !== "connect-stream") error.metadata.forEach((value, name) => (headers[name] = value));
  const rejected = error instanceof Rejection ? error.httpStatus : undefined;
  let status: number;
  let body: Uint8Array | undefined;
  if (grpc) {
    status = 200;
    headers["content-type"] = responseContentType(protocol, req);
    Object.assign(headers, grpcStatusHeaders(error));
  } else if (protocol === "connect-stream") {
    status = 200;
    headers["content-type"] = responseContentType(protocol, req);
    body = endStreamFrame(error);
  } else if (protocol === "connect-unary") {
    status = rejected ?? codeToHttpStatus(error.code);
    headers["content-type"] = "application/json";
    body = errorToJsonBytes(error, {});
  } else {
    status = rejected ?? httpStatusOf(error.code);
    headers["content-type"] = "application/json";
    const retryAfter = retryAfterSeconds(error);
    if (retryAfter !== undefined) headers["retry-after"] ??= String(retryAfter);
    body = Buffer.from(JSON.stringify(statusJson(error)));
  }

  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value!);
  if (body === undefined) {
    // No body, not even an empty one: over HTTP/2 a response ended before its
    // headers went out is one HEADERS frame with END_STREAM, gRPC's
    // trailers-only answer (an empty write would send the headers alone).
    res.end();
    return;
  }
  res.setHeader("content-length", body.byteLength);
  res.end(body);
}
