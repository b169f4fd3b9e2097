import { ConnectError } from "@connectrpc/connect";
import { Client, Metadata, credentials, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { toConnectError } from "./errors.js";

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

const identity = (bytes: Buffer | Uint8Array) => bytes as Buffer;

function metadataOf(options: ForwardOptions): Metadata {
  const metadata = new Metadata();
  for (const name of forwardedHeaders) {
    const value = options.headers.get(name);
    if (value !== null) metadata.set(name, value);
  }
  if (options.clientAddress) metadata.set("x-forwarded-for", options.clientAddress);
  return metadata;
}

/**
 * The error to answer with: when the edge cancelled the upstream call because
 * its own call ended (the client's deadline passed, the client went away),
 * that reason, not the CANCELLED the cancellation caused upstream.
 */
function failureOf(error: ServiceError, options: ForwardOptions): ConnectError {
  return options.signal.aborted ? ConnectError.from(options.signal.reason) : toConnectError(error);
}

function callOptions(options: ForwardOptions) {
  return options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

/**
 * Forwards protobuf bytes to one upstream service over a grpc-js channel,
 * without decoding them: the edge pays for serialisation only where a
 * protocol demands it.
 */
export function createUpstream(address: string) {
  const client = new Client(address, credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
  });

  return {
    /** One request, one response. */
    unary(path: string, request: Uint8Array, options: ForwardOptions): Promise<Uint8Array> {
      return new Promise((resolve, reject) => {
        const call = client.makeUnaryRequest(path, identity, identity, asBuffer(request), metadataOf(options), callOptions(options), (error: ServiceError | null, response?: Buffer) => {
          options.signal.removeEventListener("abort", cancel);
          if (error) reject(failureOf(error, options));
          else resolve(response!);
        });
        const cancel = () => call.cancel();
        options.signal.addEventListener("abort", cancel, { once: true });
      });
    },

    /** One request, a stream of responses; ending the iteration cancels the upstream call. */
    serverStream(path: string, request: Uint8Array, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      return relayResponses(client.makeServerStreamRequest(path, identity, identity, asBuffer(request), metadataOf(options), callOptions(options)), options);
    },

    /** A stream each way; ending the iteration cancels the upstream call. */
    bidiStream(path: string, requests: AsyncIterable<Uint8Array>, options: ForwardOptions): AsyncGenerator<Uint8Array> {
      const call = client.makeBidiStreamRequest(path, identity, identity, metadataOf(options), callOptions(options));
      void (async () => {
        for await (const request of requests) call.write(asBuffer(request));
        call.end();
      })().catch(() => call.cancel());
      return relayResponses(call, options);
    },

    close(): void {
      client.close();
    },
  };
}

/** The responses of an upstream stream; the call is cancelled when the client goes or the iteration stops. */
async function* relayResponses(call: ClientReadableStream<Buffer> | ClientDuplexStream<Buffer, Buffer>, options: ForwardOptions): AsyncGenerator<Uint8Array> {
  const cancel = () => call.cancel();
  options.signal.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of call) yield message as Buffer;
  } catch (error) {
    throw failureOf(error as ServiceError, options);
  } finally {
    options.signal.removeEventListener("abort", cancel);
    call.cancel();
  }
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** A connection to one upstream service. */
export type Upstream = ReturnType<typeof createUpstream>;
