import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectErrorOf, unavailable } from "./errors.js";
import { createFrameReader, frame, grpcTimeout } from "./grpc-wire.js";
import type { createSessionPool } from "./http2-sessions.js";

/** Request headers passed to the services; everything else (hop-by-hop, protocol, cookies) stays at the edge. */
export const forwardedHeaders = ["authorization", "x-request-id", "traceparent", "tracestate"] as const;

/** How one forwarded call is made. */
export interface ForwardOptions {
  /** Headers of the incoming request. */
  headers: Headers;
  /** Milliseconds left, from the client's deadline or the edge's default. */
  timeoutMs: number | undefined;
  /** Aborted when the client goes away: the upstream call is cancelled at once. */
  signal: AbortSignal;
  /** The client's address, passed as x-forwarded-for. */
  clientAddress?: string;
}

/** An open upstream call and the status it ended with, once it has. */
interface Call {
  stream: ClientHttp2Stream;
  status(): IncomingHttpHeaders | undefined;
  /** Why the edge ended the call itself, if it did. */
  endedByEdge(): ConnectError | undefined;
  /** Releases the call; a call that did not finish is reset upstream. */
  done(finished: boolean): void;
}

/**
 * Forwards protobuf bytes to one upstream service as gRPC calls over a
 * pooled HTTP/2 session, without decoding them: the edge writes and reads
 * only the gRPC framing, which costs far less than a full gRPC client per
 * call.
 */
export function createUpstream(address: string, sessions: ReturnType<typeof createSessionPool>) {
  function open(path: string, options: ForwardOptions): Call {
    const headers: OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" };
    for (const name of forwardedHeaders) {
      const value = options.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    if (options.clientAddress) headers["x-forwarded-for"] = options.clientAddress;
    if (options.timeoutMs !== undefined) headers["grpc-timeout"] = grpcTimeout(options.timeoutMs);

    const stream = sessions.session(address).request(headers);
    let status: IncomingHttpHeaders | undefined;
    let endedByEdge: ConnectError | undefined;
    const end = (reason: ConnectError) => {
      endedByEdge ??= reason;
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };
    const cancel = () => end(ConnectError.from(options.signal.reason));
    options.signal.addEventListener("abort", cancel, { once: true });
    // The upstream enforces grpc-timeout; this covers one that never answers.
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => end(new ConnectError("the deadline passed", Code.DeadlineExceeded)), options.timeoutMs + 50);
    stream.on("response", (response) => {
      if (response["grpc-status"] !== undefined) status = response;
    });
    stream.on("trailers", (trailers) => {
      status = trailers;
    });
    stream.on("error", () => undefined);
    return {
      stream,
      status: () => status,
      endedByEdge: () => endedByEdge,
      done(finished) {
        clearTimeout(timer);
        options.signal.removeEventListener("abort", cancel);
        // Resetting finished streams too would trip the server's rapid-reset protection (GOAWAY).
        if (!finished && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
      },
    };
  }

  /** The call's messages, then its status: an error unless OK. */
  async function* messages(call: Call, options: ForwardOptions): AsyncGenerator<Uint8Array> {
    const read = createFrameReader();
    let finished = false;
    try {
      try {
        for await (const chunk of call.stream) yield* read(chunk as Buffer);
      } catch {
        // The stream failed: the edge's own reason, a status already read, or a lost upstream.
      }
      finished = true;
      const byEdge = call.endedByEdge() ?? (options.signal.aborted ? ConnectError.from(options.signal.reason) : undefined);
      if (byEdge) throw byEdge;
      const status = call.status();
      if (!status) throw unavailable();
      const code = Number(status["grpc-status"]);
      if (code !== 0) {
        throw connectErrorOf(code, decodeURIComponent(String(status["grpc-message"] ?? "")), status["grpc-status-details-bin"] as string | undefined);
      }
    } finally {
      call.done(finished);
    }
  }

  function start(path: string, options: ForwardOptions): Call {
    try {
      return open(path, options);
    } catch {
      throw unavailable();
    }
  }

  return {
    /** One request, one response. */
    async unary(path: string, request: Uint8Array, options: ForwardOptions): Promise<Uint8Array> {
      const call = start(path, options);
      call.stream.end(frame(request));
      let response: Uint8Array | undefined;
      for await (const message of messages(call, options)) response ??= message;
      if (!response) throw new ConnectError("the service sent no response", Code.Internal);
      return response;
    },

    /** One request, a stream of responses; ending the iteration cancels the upstream call. */
    serverStream(path: string, request: Uint8Array, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      const call = start(path, options);
      call.stream.end(frame(request));
      return messages(call, options);
    },

    /** A stream each way; ending the iteration cancels the upstream call. */
    bidiStream(path: string, requests: AsyncIterable<Uint8Array>, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      const call = start(path, options);
      void (async () => {
        for await (const request of requests) call.stream.write(frame(request));
        call.stream.end();
      })().catch(() => call.done(false));
      return messages(call, options);
    },
  };
}

/** A connection to one upstream service. */
export type Upstream = ReturnType<typeof createUpstream>;
