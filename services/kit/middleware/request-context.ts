import { randomFillSync, randomUUID } from "node:crypto";
import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";
import { Status } from "nice-grpc-common";
import type { Logger } from "../logger.js";
import { statusOf } from "../grpc/call-status.js";
import { goStatusName } from "../grpc/status-names.js";

/** Per-call facts every later middleware and handler can read. */
export interface RequestContext {
  /** The caller's x-request-id, or a new one; echoed in the response header. */
  requestId: string;
  /** W3C trace id: the caller's, or a new one. */
  traceId: string;
  /** This call's span id; outgoing calls name it as their parent. */
  spanId: string;
  /** A logger bound to this call's ids (made on first use). */
  readonly log: Logger;
  /** Who the call is for, once authentication has run; for the access log. */
  principal?: string;
}

/** What the request-context middleware adds to the call context. */
export type RequestContextExt = { request: RequestContext };

const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const requestIdPattern = /^[\w.:-]{1,128}$/;

/**
 * Gives each call a request id and trace context, and writes one JSON log
 * line when it ends: method, code, duration, principal, ids. Request bodies
 * are never logged, so secrets in them cannot leak here.
 */
export function createRequestContextMiddleware(logger: Logger): ServerMiddleware<RequestContextExt> {
  return async function* requestContext<Request, Response>(
    call: ServerMiddlewareCall<Request, Response, RequestContextExt>,
    context: CallContext,
  ) {
    const incomingId = context.metadata.get("x-request-id");
    const requestId = incomingId && requestIdPattern.test(incomingId) ? incomingId : randomUUID();
    const parent = traceparentPattern.exec(context.metadata.get("traceparent") ?? "");
    const traceId = parent?.[1] ?? randomHex(16);
    const spanId = randomHex(8);
    const ids = { requestId, traceId, spanId };
    let log: Logger | undefined;
    const request: RequestContext = {
      ...ids,
      get log() {
        return (log ??= logger.child(ids));
      },
    };
    context.header.set("x-request-id", requestId);

    const started = process.hrtime.bigint();
    let code = Status.CANCELLED;
    try {
      const result = yield* call.next(call.request, { ...context, request });
      code = context.signal.aborted ? Status.CANCELLED : Status.OK;
      return result;
    } catch (error) {
      code = statusOf(error);
      throw error;
    } finally {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const line = {
        ...ids,
        method: call.method.path,
        code: goStatusName(code),
        durationMs: Math.round(durationMs * 1000) / 1000,
        principal: request.principal,
        peer: context.peer,
      };
      if (code === Status.OK) logger.info(line, "call");
      else logger.warn(line, "call");
    }
  };
}

// Trace and span ids are drawn from a pool refilled 4 KiB at a time, as
// randomUUID draws its own: one system call per few hundred calls, not one each.
const entropy = Buffer.alloc(4096);
let entropyUsed = entropy.length;

/** `bytes` random bytes as hex digits. */
function randomHex(bytes: number): string {
  if (entropyUsed + bytes > entropy.length) {
    randomFillSync(entropy);
    entropyUsed = 0;
  }
  return entropy.toString("hex", entropyUsed, (entropyUsed += bytes));
}

/** The traceparent header for an outgoing call made while serving `request`. */
export function outgoingTraceparent(request: RequestContext): string {
  return `00-${request.traceId}-${request.spanId}-01`;
}
