import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { isConnectStream, type Protocol } from "./protocol.js";

/** A request the edge answers itself, before any handler sees it. */
export interface Rejection {
  /** HTTP status for REST, plain HTTP and Connect unary; gRPC and gRPC-Web always answer 200. */
  httpStatus: number;
  /** The gRPC code (8 RESOURCE_EXHAUSTED, 7 PERMISSION_DENIED). */
  grpcCode: number;
  message: string;
  /** Seconds until a retry can succeed; sent as Retry-After (a header, and for gRPC a trailer too). */
  retryAfterSeconds?: number;
}

/** Connect's names of the gRPC codes the edge answers with. */
const connectCodes: Record<number, string> = {
  7: "permission_denied",
  8: "resource_exhausted",
};

/** 413 for a body over the limit. */
export function bodyTooLarge(maxBytes: number): Rejection {
  return { httpStatus: 413, grpcCode: 8, message: `request body exceeds ${maxBytes} bytes` };
}

/** 429 for a caller over its rate limit. */
export function rateLimited(retryAfterSeconds: number): Rejection {
  return { httpStatus: 429, grpcCode: 8, message: `rate limit exceeded; retry after ${retryAfterSeconds}s`, retryAfterSeconds };
}

/**
 * Answers a rejected request in its own protocol:
 * - gRPC and gRPC-Web: a trailers-only response, HTTP 200 with grpc-status
 *   and grpc-message (and retry-after) in the one header block;
 * - Connect unary: the HTTP status with a Connect error JSON body
 *   (`{"code":"resource_exhausted",…}`);
 * - Connect streams: HTTP 200 with an end-stream message carrying the error,
 *   since Connect clients map any other status to a generic code;
 * - REST and plain HTTP: the HTTP status with google.rpc.Status JSON.
 * `extraHeaders` are added (e.g. `connection: close`).
 */
export function sendRejection(
  req: EdgeRequest,
  res: EdgeResponse,
  protocol: Protocol,
  rejection: Rejection,
  extraHeaders: Record<string, string> = {},
): void {
  const headers: Record<string, string> = { ...extraHeaders };
  if (rejection.retryAfterSeconds !== undefined) headers["retry-after"] = String(rejection.retryAfterSeconds);
  let status = rejection.httpStatus;
  let body: Buffer | string = "";

  if (protocol === "grpc" || protocol === "grpc-web") {
    status = 200;
    headers["content-type"] = mediaType(req) || `application/${protocol}`;
    headers["grpc-status"] = String(rejection.grpcCode);
    headers["grpc-message"] = encodeGrpcMessage(rejection.message);
  } else if (protocol === "connect") {
    const error = { code: connectCodes[rejection.grpcCode] ?? "unknown", message: rejection.message };
    if (isConnectStream(req)) {
      status = 200;
      headers["content-type"] = mediaType(req);
      body = endStreamMessage({ error });
    } else {
      headers["content-type"] = "application/json";
      body = JSON.stringify(error);
    }
  } else {
    headers["content-type"] = "application/json";
    body = JSON.stringify({ code: rejection.grpcCode, message: rejection.message, details: [] });
  }

  headers["content-length"] = String(Buffer.byteLength(body));
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // No writeHead: over HTTP/2 a response ended before its headers are sent
  // goes out as one HEADERS frame with END_STREAM, which is what gRPC calls
  // trailers-only.
  res.end(body);
}

function mediaType(req: EdgeRequest): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim();
}

/** A Connect end-stream message: flags 0b10, then the JSON length and bytes. */
function endStreamMessage(json: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(json));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(0b10, 0);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/** grpc-message is percent-encoded outside printable ASCII (and '%' itself). */
function encodeGrpcMessage(message: string): string {
  return Array.from(Buffer.from(message, "utf8"), (byte) =>
    byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`,
  ).join("");
}
