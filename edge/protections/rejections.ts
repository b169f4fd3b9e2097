import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorDomain } from "../../services/kit/errors.js";

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
 * by the edge's own code and written by `sendError` (edge/protocol/send-error.ts).
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

/** 404 / UNIMPLEMENTED for an RPC path no service of the edge serves. */
export function unknownMethod(path: string): Rejection {
  return new Rejection({ code: Code.Unimplemented, reason: "UNKNOWN_METHOD", message: `no method ${path}`, httpStatus: 404 });
}

/** 404 / NOT_FOUND for a REST path no http rule matches. */
export function routeNotFound(path: string): Rejection {
  return new Rejection({ code: Code.NotFound, reason: "ROUTE_NOT_FOUND", message: `no route for ${path}`, httpStatus: 404 });
}

/** 415 / UNIMPLEMENTED for a content type the edge does not speak on an RPC path. */
export function unsupportedMediaType(type: string): Rejection {
  return new Rejection({ code: Code.Unimplemented, reason: "UNSUPPORTED_MEDIA_TYPE", message: `unsupported content type "${type}"`, httpStatus: 415 });
}
