import type { OutgoingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, endStreamFlag, errorToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorDomain } from "../../services/kit/errors.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { statusJson } from "../rest/errors.js";
import { trailerFrame } from "../upstream/grpc-wire.js";
import { isConnectStream, type Protocol } from "./protocol.js";

/** What a rejection is made of. */
export interface RejectionInit {
  code: Code;
  /** The stable UPPER_SNAKE ErrorInfo reason. */
  reason: string;
  message: string;
  /** HTTP status for REST, plain HTTP and Connect unary; default: Connect's status of `code`. */
  httpStatus?: number;
  /** Seconds until a retry can succeed: a RetryInfo detail and a retry-after header (a trailer too for gRPC). */
  retryAfterSeconds?: number;
  /** The fields at fault, as a BadRequest detail. */
  violations?: { field: string; description: string }[];
  /** Kept for logs, never sent. */
  cause?: unknown;
}

/**
 * A request the edge refuses itself, before or instead of the service: a
 * ConnectError carrying an ErrorInfo (Launchpad's domain, a stable reason),
 * plus the HTTP status it has where the protocol uses HTTP statuses. Thrown
 * by the edge's own code and written by `sendRejection`.
 */
export class Rejection extends ConnectError {
  readonly httpStatus: number;

  /** A prototype check: ConnectError's own `instanceof` takes any ConnectError, which would include every upstream error. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  constructor(init: RejectionInit) {
    const details: ConstructorParameters<typeof ConnectError>[3] = [{ desc: ErrorInfoSchema, value: { reason: init.reason, domain: errorDomain } }];
    const metadata: Record<string, string> = {};
    if (init.retryAfterSeconds !== undefined) {
      metadata["retry-after"] = String(init.retryAfterSeconds);
      details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(init.retryAfterSeconds) } } });
    }
    if (init.violations) details.push({ desc: BadRequestSchema, value: { fieldViolations: init.violations } });
    super(init.message, init.code, metadata, details, init.cause);
    this.httpStatus = init.httpStatus ?? codeToHttpStatus(init.code);
  }
}

/** 413 for a body over the limit, as received or once decompressed. */
export function bodyTooLarge(maxBytes: number): Rejection {
  return new Rejection({ code: Code.ResourceExhausted, reason: "REQUEST_TOO_LARGE", message: `request body exceeds ${maxBytes} bytes`, httpStatus: 413 });
}

/** 429 for a caller over its rate limit. */
export function rateLimited(retryAfterSeconds: number): Rejection {
  return new Rejection({
    code: Code.ResourceExhausted,
    reason: "RATE_LIMITED",
    message: `rate limit exceeded; retry after ${retryAfterSeconds}s`,
    httpStatus: 429,
    retryAfterSeconds,
  });
}

/**
 * 400 for a request the edge cannot read: a body or message not decodable
 * or not decompressable, a REST request that maps onto no request message
 * (with the field at fault). The reason the services use too.
 */
export function malformedRequest(message: string, options: { cause?: unknown; field?: string } = {}): Rejection {
  const violations = options.field === undefined ? undefined : [{ field: options.field, description: message }];
  return new Rejection({ code: Code.InvalidArgument, reason: "MALFORMED_REQUEST", message, cause: options.cause, violations });
}

/** 415 / UNIMPLEMENTED for a body compressed in a coding the edge does not take. */
export function unsupportedEncoding(encoding: string, accepted: readonly string[]): Rejection {
  return new Rejection({
    code: Code.Unimplemented,
    reason: "UNSUPPORTED_ENCODING",
    message: `unsupported compression "${encoding}"; supported: ${accepted.join(", ")}`,
    httpStatus: 415,
  });
}

/** The gRPC status headers of an error: grpc-status, grpc-message, grpc-status-details-bin, and its metadata. */
export function grpcStatusHeaders(error: ConnectError): OutgoingHttpHeaders {
  return Object.fromEntries(setTrailerStatus(new Headers(), error));
}

/**
 * Answers a rejected request in its own protocol, with the ErrorInfo in each:
 * - gRPC and gRPC-Web: a trailers-only response, one header block with
 *   :status 200, the status (grpc-status, grpc-message,
 *   grpc-status-details-bin) and retry-after, ending the stream (over HTTP/2
 *   one HEADERS frame with END_STREAM); once headers have gone out (the
 *   relay answered first), the status follows as trailers;
 * - Connect unary: the HTTP status with a Connect error JSON body;
 * - Connect streams: HTTP 200 with an end-stream message carrying the error,
 *   since Connect clients map any other status to a generic code;
 * - REST and plain HTTP: the HTTP status with google.rpc.Status JSON.
 * `extraHeaders` are added (e.g. `connection: close`). Other protocols whose
 * headers have gone out can only be cut off: the response is destroyed.
 */
export function sendRejection(
  req: EdgeRequest,
  res: EdgeResponse,
  protocol: Protocol,
  rejection: Rejection,
  extraHeaders: Record<string, string> = {},
): void {
  const grpc = protocol === "grpc" || protocol === "grpc-web";
  if (res.headersSent) {
    if (!grpc) return void res.destroy();
    if (protocol === "grpc-web") return void res.end(trailerFrame(grpcStatusHeaders(rejection)));
    (res as import("node:http2").Http2ServerResponse).addTrailers(grpcStatusHeaders(rejection));
    return void res.end();
  }

  const headers: OutgoingHttpHeaders = { ...extraHeaders };
  rejection.metadata.forEach((value, name) => (headers[name] = value));
  let status = rejection.httpStatus;
  let body: Uint8Array | undefined;
  if (grpc) {
    status = 200;
    headers["content-type"] = mediaType(req) || `application/${protocol}`;
    Object.assign(headers, grpcStatusHeaders(rejection));
  } else if (protocol === "connect") {
    if (isConnectStream(req)) {
      status = 200;
      headers["content-type"] = mediaType(req);
      body = endStreamMessage(rejection);
    } else {
      headers["content-type"] = "application/json";
      body = errorToJsonBytes(rejection, {});
    }
  } else {
    headers["content-type"] = "application/json";
    body = Buffer.from(JSON.stringify(statusJson(rejection)));
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

function mediaType(req: EdgeRequest): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim();
}

/**
 * A Connect end-stream message carrying the error: flags 0b10, then the
 * JSON's length and bytes. Its metadata (retry-after) is in the response
 * headers already; clients would add the two together.
 */
function endStreamMessage(error: ConnectError): Buffer {
  const payload = Buffer.from(JSON.stringify({ error: errorToJson(error, undefined) }));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(endStreamFlag, 0);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}
