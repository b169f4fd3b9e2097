import { fromBinary, mergeFromJson, type DescField, type DescMessage, type DescMethod, type Message } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { drained } from "../protocol/drained.js";
import { headerValue } from "./deadline.js";
import { asConnectError, statusJson } from "./errors.js";
import { restRefusal } from "./refusals.js";
import { responseJson } from "./response.js";

/** How a server stream is written: Server-Sent Events or newline-delimited JSON. */
export type StreamFormat = "sse" | "ndjson";

/** SSE when the client accepts text/event-stream (as EventSource does); NDJSON otherwise. */
export function streamFormatOf(req: EdgeRequest): StreamFormat {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(headerValue(req.headers, "accept") ?? "") ? "sse" : "ndjson";
}

/**
 * How a server stream's SSE events resume: each event's `id:` is the
 * message's `revision`, and when EventSource reconnects it sends the last
 * id it saw as Last-Event-ID, which sets the request's `resume_revision`.
 * A stream without either field goes without that half.
 */
export interface SseResume {
  /** The output field whose value is each event's id: `revision`, a scalar. */
  eventId: DescField | undefined;
  /** The request field Last-Event-ID sets: `resume_revision`. */
  lastEventId: DescField | undefined;
}

/** The SSE resume fields of a server-streaming method. */
export function compileSseResume(method: DescMethod): SseResume {
  return {
    eventId: method.output.fields.find((f) => f.name === "revision" && f.fieldKind === "scalar"),
    lastEventId: method.input.fields.find((f) => f.name === "resume_revision"),
  };
}

/**
 * Applies the Last-Event-ID header to the request's `lastEventId` field,
 * winning over a query parameter (which the reconnect repeats unchanged);
 * ignored when the request has no such field.
 */
export function applyLastEventId(input: DescMessage, field: DescField | undefined, request: Message, req: EdgeRequest): void {
  const header = headerValue(req.headers, "last-event-id");
  if (header === undefined || !field) return;
  const invalid = () => restRefusal("INVALID_HEADER", "last-event-id", `invalid Last-Event-ID header "${header}": expected a revision`);
  if (!/^\d{1,19}$/.test(header)) throw invalid();
  try {
    mergeFromJson(input, request, { [field.name]: header });
  } catch {
    throw invalid();
  }
}

/**
 * Writes a server stream as it arrives, flushing each message.
 *
 * - SSE (`text/event-stream`): one event per message, `data: <json>`, with
 *   `id: <revision>` when `eventId` names the revision (watch responses), so
 *   a reconnecting EventSource resumes where it stopped. A failure is a
 *   final `event: error` whose data is the google.rpc.Status JSON.
 * - NDJSON (`application/x-ndjson`): one JSON message per line; a failure
 *   is a final `{"error": {...Status...}}` line.
 *
 * The status line waits for the first message, so a stream that fails at
 * once (UNAUTHENTICATED, NOT_FOUND, a deadline) is thrown to the caller,
 * which answers with the error's own HTTP status and Status JSON body.
 * Writes respect backpressure; when the client goes away `signal` aborts,
 * which cancels the upstream call at once. A later failure that is not a
 * ConnectError is sent as INTERNAL and rethrown.
 */
export async function sendStream(
  res: EdgeResponse,
  format: StreamFormat,
  output: DescMessage,
  responseBody: DescField | undefined,
  eventId: DescField | undefined,
  messages: AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<void> {
  const revision = format === "sse" ? eventId : undefined;
  let started = false;
  const start = () => {
    res.writeHead(200, {
      "content-type": format === "sse" ? "text/event-stream; charset=utf-8" : "application/x-ndjson",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    started = true;
  };
  try {
    for await (const bytes of messages) {
      if (!started) start();
      const message = fromBinary(output, bytes);
      const json = JSON.stringify(responseJson(output, responseBody, message));
      const id = revision ? `id: ${String((message as unknown as Record<string, unknown>)[revision.localName])}\n` : "";
      await write(res, format === "sse" ? `${id}data: ${json}\n\n` : `${json}\n`);
      if (signal.aborted) return;
    }
  } catch (error) {
    if (signal.aborted) return;
    if (!started) throw error;
    const status = statusJson(asConnectError(error));
    res.end(format === "sse" ? `event: error\ndata: ${JSON.stringify(status)}\n\n` : `${JSON.stringify({ error: status })}\n`);
    // Sent as INTERNAL; the caller logs the cause.
    if (!(error instanceof ConnectError)) throw error;
    return;
  }
  if (!started) start();
  res.end();
}

/** Writes a chunk; waits for the client to drain its buffer (or go away) when it is full. */
async function write(res: EdgeResponse, chunk: string): Promise<void> {
  if (!res.write(chunk)) await drained(res);
}
