import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { EdgeResponse } from "../http-server.js";
import type { RequestIds } from "../routing/request-ids.js";
import { Rejection } from "../protections/rejections.js";
import { createFrameReader, firstFrame, frame, grpcTimeout, isCompressedFrame, messageOf } from "../protocol/wire.js";
import { unavailable, upstreamErrorOf } from "./errors.js";
import type { VouchForClient } from "./client-identity.js";
import type { createSessionPool } from "./http2-sessions.js";


/** How a call ends whose client went away before it was answered. */
export const clientLeft = new ConnectError("the client went away", Code.Canceled);

/** An incoming request's headers: connect-node's Headers, or Node's own object (read in place, never copied). */
export type RequestHeaders = Headers | IncomingHttpHeaders;

/** How one forwarded call is made. */
export interface ForwardOptions {
  /** Headers of the incoming request. */
  headers: RequestHeaders;
  /** The client request's id and trace context (routing/request-ids.ts); none for the edge's own calls (the JWKS). */
  ids?: RequestIds;
  /** Milliseconds left, from the client's deadline or the edge's default. */
  timeoutMs: number | undefined;
  /** Aborted when the client goes away: the upstream call is cancelled at once. */
  signal?: AbortSignal;
  /**
   * For callers without a signal, the client's response: when it closes
   * before it finished, the upstream call is cancelled at once (`clientLeft`).
   * One listener costs far less than an AbortController per call.
   */
  client?: EdgeResponse;
  /** The client's address, passed as x-forwarded-for. */
  clientAddress?: string;
}

function ignore(): void {}

/** A response message the edge cannot inflate (within the limit): the service's failure, not the client's request's. */
function unreadableResponse(error: unknown): Rejection {
  const tooLarge = ConnectError.from(error).code === Code.ResourceExhausted;
  return new Rejection({
    code: tooLarge ? Code.ResourceExhausted : Code.Internal,
    reason: tooLarge ? "RESPONSE_TOO_LARGE" : "MALFORMED_RESPONSE",
    message: tooLarge ? "the service's response is too large once inflated" : "cannot inflate the service's response",
    cause: error,
  });
}

/** The value of a forwarded header, from either kind of headers. */
function headerOf(headers: RequestHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name];
  return typeof value === "string" ? value : undefined;
}

/**
 * Adds what every forwarded call carries to `to`: the client's
 * authorization, the request id, and the edge's trace context. Every other
 * client header (hop-by-hop, protocol, cookies) stays at the edge.
 */
export function addForwardedHeaders(to: OutgoingHttpHeaders, from: RequestHeaders, ids: RequestIds | undefined): void {
  const authorization = headerOf(from, "authorization");
  if (authorization !== undefined) to.authorization = authorization;
  if (!ids) return;
  to["x-request-id"] = ids.requestId;
  to.traceparent = ids.traceparent;
  if (ids.tracestate !== undefined) to.tracestate = ids.tracestate;
}

/** An open upstream call: its stream, and how it ended once it has. */
class Call {
  /** The headers or trailers carrying grpc-status, once received. */
  private status: IncomingHttpHeaders | undefined;
  /** The grpc-encoding of the upstream's messages. */
  encoding = "identity";
  /** Why the edge ended the call itself, if it did. */
  private endedByEdge: ConnectError | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly cancel: (() => void) | undefined;

  constructor(
    readonly stream: ClientHttp2Stream,
    private readonly options: ForwardOptions,
  ) {
    const { signal, client } = options;
    if (signal) {
      this.cancel = () => this.end(ConnectError.from(signal.reason));
      signal.addEventListener("abort", this.cancel, { once: true });
    }
    client?.on("close", () => {
      // Not writableFinished: an HTTP/2 response reset by its client reports itself finished as it closes.
      if (!client.writableEnded) this.end(clientLeft);
    });
    // The upstream enforces grpc-timeout; this covers one that never answers.
    if (options.timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.end(new ConnectError("the deadline passed", Code.DeadlineExceeded)), options.timeoutMs + 50);
    }
    stream.on("response", (response) => {
      const encoding = response["grpc-encoding"];
      if (typeof encoding === "string") this.encoding = encoding;
      if (response["grpc-status"] !== undefined) this.status = response;
    });
    stream.on("trailers", (trailers) => {
      this.status = trailers;
    });
    stream.on("error", ignore);
  }

  private end(reason: ConnectError): void {
    this.endedByEdge ??= reason;
    if (!this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
  }

  /** How the call failed, once its stream has ended: the edge's own reason, the upstream's status, or a lost upstream. */
  failure(): ConnectError | undefined {
    const byEdge = this.endedByEdge ?? (this.options.signal?.aborted ? ConnectError.from(this.options.signal.reason) : undefined);
    if (byEdge) return byEdge;
    const status = this.status;
    if (!status) return unavailable();
    return upstreamErrorOf(status);
  }

  /** Releases the call; a call that did not finish is reset upstream. */
  done(finished: boolean): void {
    clearTimeout(this.timer);
    if (this.cancel) this.options.signal!.removeEventListener("abort", this.cancel);
    // Resetting finished streams too would trip the server's rapid-reset protection (GOAWAY).
    if (!finished && !this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
  }
}

/**
 * Forwards protobuf bytes to one upstream service as gRPC calls over a
 * pooled HTTP/2 session, without decoding them: the edge writes and reads
 * only the gRPC framing, which costs far less than a full gRPC client per
 * call.
 */
export function createUpstream(address: string, sessions: ReturnType<typeof createSessionPool>, vouchForClient: VouchForClient) {
  /** A compressed response message may inflate to this much: grpc-js's own default receive limit. */
  const maxMessageBytes = 4 * 1024 * 1024;
  function start(path: string, options: ForwardOptions): Call {
    const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    addForwardedHeaders(headers, options.headers, options.ids);
    vouchForClient(headers, options.clientAddress);
    if (options.timeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(options.timeoutMs);
    let stream: ClientHttp2Stream;
    try {
      stream = sessions.session(address).request(headers);
    } catch {
      throw unavailable();
    }
    return new Call(stream, options);
  }

  /** The call's messages, then its status: an error unless OK. */
  async function* messages(call: Call): AsyncGenerator<Uint8Array> {
    const read = createFrameReader(() => call.encoding, maxMessageBytes);
    let finished = false;
    try {
      try {
        for await (const chunk of call.stream) yield* read(chunk as Buffer);
      } catch (error) {
        // A message the edge cannot inflate ends the call; otherwise the stream failed: the edge's own reason, a status already read, or a lost upstream.
        if (error instanceof Rejection) throw unreadableResponse(error);
      }
      finished = true;
      const failure = call.failure();
      if (failure) throw failure;
    } finally {
      call.done(finished);
    }
  }

  return {
    /** The upstream's address, for the gRPC relay's own calls on the same sessions. */
    address,

    /** One request, one response: read with plain listeners, the cheapest way Node offers. */
    unary(path: string, request: Uint8Array, options: ForwardOptions): Promise<Uint8Array> {
      return new Promise((resolve, reject) => {
        const call = start(path, options);
        const chunks: Buffer[] = [];
        call.stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        // Last of all events: the status has arrived, or never will.
        call.stream.on("close", () => {
          call.done(true);
          const failure = call.failure();
          if (failure) return reject(failure);
          const response = firstFrame(chunks);
          if (!response) return reject(new ConnectError("the service sent no response", Code.Internal));
          // Uncompressed (the usual case) it is answered at once, without a promise in between.
          if (!isCompressedFrame(response)) return resolve(response.subarray(5));
          // messageOf may also throw at once (flagged compressed under no encoding): either way it is the service's fault.
          Promise.resolve()
            .then(() => messageOf(response, call.encoding, maxMessageBytes))
            .then(resolve, (error: unknown) => reject(unreadableResponse(error)));
        });
        call.stream.end(frame(request));
      });
    },

    /** One request, a stream of responses; ending the iteration cancels the upstream call. */
    serverStream(path: string, request: Uint8Array, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      const call = start(path, options);
      call.stream.end(frame(request));
      return messages(call);
    },

    /** A stream each way; ending the iteration cancels the upstream call. */
    bidiStream(path: string, requests: AsyncIterable<Uint8Array>, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      const call = start(path, options);
      void (async () => {
        for await (const request of requests) call.stream.write(frame(request));
        call.stream.end();
      })().catch(() => call.done(false));
      return messages(call);
    },
  };
}

/** A connection to one upstream service. */
export type Upstream = ReturnType<typeof createUpstream>;
