import { randomUUID } from "node:crypto";
import type { EdgeRequest } from "../http-server.js";

/** What ties one request together across the edge and the services: its id and its W3C trace context. */
export interface RequestIds {
  /** The client's X-Request-Id when well-formed, else a new UUID; echoed to the client and passed upstream. */
  requestId: string;
  /** The W3C trace id: the client's traceparent's, or a new one. */
  traceId: string;
  /** The traceparent passed upstream: the trace id, the edge's own span id, and the client's sampled flag (set on a new trace). */
  traceparent: string;
  /** The client's tracestate, passed on only beside a valid traceparent (W3C Trace Context §3.3.1). */
  tracestate: string | undefined;
}

const requestIdPattern = /^[\w.:-]{1,128}$/;
/** version-traceid-parentid-flags; a version above 00 may add fields after a dash (W3C Trace Context §3.2.4). */
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const zeroTraceId = "0".repeat(32);
const zeroSpanId = "0".repeat(16);

/** The trace id and sampled flag of a valid traceparent; undefined for anything the spec says to ignore. */
function parentOf(header: string | string[] | undefined): { traceId: string; sampled: boolean } | undefined {
  const parent = typeof header === "string" ? traceparentPattern.exec(header) : null;
  if (!parent) return undefined;
  const [, version, traceId, spanId, flags, more] = parent;
  if (version === "ff" || (version === "00" && more !== undefined) || traceId === zeroTraceId || spanId === zeroSpanId) return undefined;
  return { traceId: traceId!, sampled: (parseInt(flags!, 16) & 1) === 1 };
}

/**
 * The request's ids: its request id, and its trace continued from the
 * client's `traceparent` or started here, with a new span id for the edge.
 */
export function requestIdsOf(req: EdgeRequest): RequestIds {
  const incoming = req.headers["x-request-id"];
  const requestId = typeof incoming === "string" && requestIdPattern.test(incoming) ? incoming : randomUUID();
  const parent = parentOf(req.headers.traceparent);
  const traceId = parent?.traceId ?? newTraceId();
  const tracestate = parent ? req.headers.tracestate : undefined;
  return {
    requestId,
    traceId,
    traceparent: `00-${traceId}-${newSpanId()}-${parent?.sampled === false ? "00" : "01"}`,
    tracestate: typeof tracestate === "string" ? tracestate : undefined,
  };
}

// New ids come from randomUUID, which draws on random bytes it refills in bulk:
// its hex digits are random but for the version and variant, which W3C ids may hold.

/** A new trace id: 32 hex digits, never all zero. */
function newTraceId(): string {
  return randomUUID().replaceAll("-", "");
}

/** A new span id: 16 hex digits, never all zero (the variant digit is 8 to b). */
function newSpanId(): string {
  return randomUUID().slice(19).replace("-", "");
}
