import {
  create,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { anyUnpack, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  compressionBrotli,
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  createNodeHttpClient,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { createTransport as createConnectProtocolTransport } from "@connectrpc/connect/protocol-connect";
import { Client as GrpcClient, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import {
  DeploymentService,
  type CreateDeploymentRequestSchema,
  type CreateDeploymentResponse,
  type GetDeploymentRequestSchema,
  type GetDeploymentResponse,
  type WatchDeploymentsRequestSchema,
  type WatchDeploymentsResponse,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService, type GetCurrentUserResponse } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";

/** What a failed call carried, whichever protocol carried it. */
export interface EdgeFailure {
  code: Code;
  message: string;
  /** The ErrorInfo detail's reason, when there was one. */
  reason: string | undefined;
  /** The ErrorInfo detail's metadata. */
  metadata: Record<string, string>;
}

/** A call through the edge that failed; `failure` is the same shape for every protocol. */
export class EdgeCallError extends Error {
  constructor(readonly failure: EdgeFailure) {
    super(`${Code[failure.code]} ${failure.reason ?? ""} ${failure.message}`);
  }
}

/** How one call is made. */
export interface EdgeCallOptions {
  /** Request headers (gRPC metadata). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The client's deadline, in milliseconds from now. */
  timeoutMs?: number;
  /** Collects the response headers and trailers (whatever the protocol lets the client see). */
  received?: Headers;
}

/** The few methods the protocol tests call, with one signature whatever the wire protocol. */
export interface EdgeClient {
  getCurrentUser(options?: EdgeCallOptions): Promise<GetCurrentUserResponse>;
  getDeployment(request: MessageInitShape<typeof GetDeploymentRequestSchema>, options?: EdgeCallOptions): Promise<GetDeploymentResponse>;
  createDeployment(request: MessageInitShape<typeof CreateDeploymentRequestSchema>, options?: EdgeCallOptions): Promise<CreateDeploymentResponse>;
  watchDeployments(request: MessageInitShape<typeof WatchDeploymentsRequestSchema>, options?: EdgeCallOptions): AsyncIterable<WatchDeploymentsResponse>;
  /** The HTTP method of each call so far, in order. */
  readonly httpMethods: string[];
  close(): void;
}

/** One way of calling the edge. */
export interface EdgeProtocol {
  name: string;
  /** Whether the edge relays it frame for frame to the service (the gRPC fast path) rather than serving it with connect-node. */
  relayed: boolean;
  /** Whether NO_SIDE_EFFECTS unary calls go as HTTP GET. */
  usesGet: boolean;
  /** A client of the edge at `baseUrl` ("http://127.0.0.1:port"). */
  client(baseUrl: string): EdgeClient;
}

/**
 * Every protocol the edge serves, each with a real client: connect-node's
 * Connect (JSON and binary, HTTP/1.1 and HTTP/2, and GET), gRPC-Web and gRPC
 * transports; a bare grpc-js client; and plain fetch speaking Connect JSON
 * over HTTP/1.1, as a browser does.
 */
export const edgeProtocols: readonly EdgeProtocol[] = [
  transportProtocol("Connect JSON, HTTP/1.1", (baseUrl, interceptors) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
  ),
  transportProtocol("Connect JSON, HTTP/2", (baseUrl, interceptors, sessionManager) =>
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, interceptors, sessionManager }),
  ),
  transportProtocol("Connect binary, HTTP/1.1", (baseUrl, interceptors) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors }),
  ),
  transportProtocol("Connect binary, HTTP/2", (baseUrl, interceptors, sessionManager) =>
    createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, interceptors, sessionManager }),
  ),
  {
    name: "Connect JSON with GET, HTTP/1.1",
    relayed: false,
    usesGet: true,
    client: (baseUrl) => {
      // createConnectTransport with useHttpGet turns POST into GET below its
      // interceptors; the same transport built from its parts shows the method sent.
      const httpMethods: string[] = [];
      const http = createNodeHttpClient({ httpVersion: "1.1" });
      const transport = createConnectProtocolTransport({
        baseUrl,
        httpClient: (request) => {
          httpMethods.push(request.method);
          return http(request);
        },
        useBinaryFormat: false,
        useHttpGet: true,
        interceptors: [],
        acceptCompression: [compressionGzip, compressionBrotli],
        sendCompression: null,
        compressMinBytes: 1024,
        readMaxBytes: 0xffffffff,
        writeMaxBytes: 0xffffffff,
      });
      return transportClient(transport, httpMethods, () => undefined);
    },
  },
  transportProtocol("gRPC-Web, HTTP/1.1", (baseUrl, interceptors) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors })),
  transportProtocol("gRPC-Web, HTTP/2", (baseUrl, interceptors, sessionManager) =>
    createGrpcWebTransport({ baseUrl, httpVersion: "2", interceptors, sessionManager }),
  ),
  transportProtocol("gRPC, connect-node transport", (baseUrl, interceptors, sessionManager) =>
    createGrpcTransport({ baseUrl, interceptors, sessionManager }), { relayed: true },
  ),
  { name: "gRPC, grpc-js client", relayed: true, usesGet: false, client: grpcJsClient },
  { name: "fetch Connect JSON, HTTP/1.1", relayed: false, usesGet: false, client: (baseUrl) => fetchClient(baseUrl, false) },
  { name: "fetch Connect GET, HTTP/1.1", relayed: false, usesGet: true, client: (baseUrl) => fetchClient(baseUrl, true) },
];

// ---------------------------------------------------------------------------
// connect-node transports, through createClient.

function transportProtocol(
  name: string,
  transport: (baseUrl: string, interceptors: Interceptor[], sessionManager: Http2SessionManager) => Transport,
  flags: { relayed?: boolean; usesGet?: boolean } = {},
): EdgeProtocol {
  return {
    name,
    relayed: flags.relayed ?? false,
    usesGet: flags.usesGet ?? false,
    client(baseUrl) {
      const httpMethods: string[] = [];
      const recordMethod: Interceptor = (next) => (request) => {
        httpMethods.push(request.requestMethod);
        return next(request);
      };
      const sessions = new Http2SessionManager(baseUrl);
      return transportClient(transport(baseUrl, [recordMethod], sessions), httpMethods, () => sessions.abort());
    },
  };
}

function transportClient(transport: Transport, httpMethods: string[], close: () => void): EdgeClient {
  const users = createClient(UserService, transport);
  const deployments = createClient(DeploymentService, transport);
  const optionsOf = (options: EdgeCallOptions) => ({
    headers: options.headers,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    onHeader: (headers: Headers) => copyInto(options.received, headers),
    onTrailer: (trailers: Headers) => copyInto(options.received, trailers),
  });
  return {
    httpMethods,
    getCurrentUser: (options = {}) => connectCall(() => users.getCurrentUser({}, optionsOf(options)), options),
    getDeployment: (request, options = {}) => connectCall(() => deployments.getDeployment(request, optionsOf(options)), options),
    createDeployment: (request, options = {}) => connectCall(() => deployments.createDeployment(request, optionsOf(options)), options),
    watchDeployments: (request, options = {}) => connectStream(() => deployments.watchDeployments(request, optionsOf(options)), options),
    close,
  };
}

async function connectCall<T>(call: () => Promise<T>, options: EdgeCallOptions): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw connectFailure(error, options);
  }
}

async function* connectStream<T>(call: () => AsyncIterable<T>, options: EdgeCallOptions): AsyncGenerator<T> {
  try {
    yield* call();
  } catch (error) {
    throw connectFailure(error, options);
  }
}

function connectFailure(error: unknown, options: EdgeCallOptions): EdgeCallError {
  const connectError = ConnectError.from(error);
  copyInto(options.received, connectError.metadata);
  const [info] = connectError.findDetails(ErrorInfoSchema);
  return new EdgeCallError({ code: connectError.code, message: connectError.rawMessage, reason: info?.reason, metadata: { ...info?.metadata } });
}

// ---------------------------------------------------------------------------
// A bare grpc-js client (what nice-grpc runs on; nice-grpc itself sends no
// deadline without a middleware package this project does not use): the
// edge's gRPC fast path.

function grpcJsClient(baseUrl: string): EdgeClient {
  const client = new GrpcClient(new URL(baseUrl).host, credentials.createInsecure());
  const httpMethods: string[] = [];
  const metadataOf = (options: EdgeCallOptions) => {
    httpMethods.push("POST");
    const metadata = new Metadata();
    for (const [name, value] of Object.entries(options.headers ?? {})) metadata.set(name, value);
    return metadata;
  };
  const callOptions = (options: EdgeCallOptions) => (options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs });
  const serialize =
    <D extends DescMessage>(schema: D) =>
    (message: MessageInitShape<D>) =>
      Buffer.from(toBinary(schema, create(schema, message)));
  const deserialize =
    <D extends DescMessage>(schema: D) =>
    (bytes: Buffer) =>
      fromBinary(schema, bytes);

  function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    options: EdgeCallOptions,
  ): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(
        methodPath(method),
        serialize(method.input),
        deserialize(method.output),
        request,
        metadataOf(options),
        callOptions(options),
        (error: ServiceError | null, response?: MessageShape<O>) => {
          options.signal?.removeEventListener("abort", cancel);
          if (error) reject(grpcJsFailure(error));
          else resolve(response!);
        },
      );
      const cancel = () => call.cancel();
      options.signal?.addEventListener("abort", cancel, { once: true });
      call.on("metadata", (metadata: Metadata) => copyMetadataInto(options.received, metadata));
      call.on("status", (status: { metadata: Metadata }) => copyMetadataInto(options.received, status.metadata));
    });
  }

  async function* serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
    options: EdgeCallOptions,
  ): AsyncGenerator<MessageShape<O>> {
    const call = client.makeServerStreamRequest(
      methodPath(method),
      serialize(method.input),
      deserialize(method.output),
      request,
      metadataOf(options),
      callOptions(options),
    );
    const cancel = () => call.cancel();
    options.signal?.addEventListener("abort", cancel, { once: true });
    call.on("metadata", (metadata: Metadata) => copyMetadataInto(options.received, metadata));
    call.on("status", (status: { metadata: Metadata }) => copyMetadataInto(options.received, status.metadata));
    try {
      for await (const message of call) yield message as MessageShape<O>;
    } catch (error) {
      throw grpcJsFailure(error as ServiceError);
    } finally {
      options.signal?.removeEventListener("abort", cancel);
      call.cancel();
    }
  }

  return {
    httpMethods,
    getCurrentUser: (options = {}) => unary(UserService.method.getCurrentUser, {}, options),
    getDeployment: (request, options = {}) => unary(DeploymentService.method.getDeployment, request, options),
    createDeployment: (request, options = {}) => unary(DeploymentService.method.createDeployment, request, options),
    watchDeployments: (request, options = {}) => serverStream(DeploymentService.method.watchDeployments, request, options),
    close: () => client.close(),
  };
}

function grpcJsFailure(error: ServiceError): EdgeCallError {
  const [bin] = error.metadata?.get("grpc-status-details-bin") ?? [];
  const details = bin instanceof Buffer ? fromBinary(StatusSchema, bin).details : [];
  const info = details.map((any) => anyUnpack(any, ErrorInfoSchema)).find((d) => d !== undefined);
  return new EdgeCallError({ code: error.code as number as Code, message: error.details, reason: info?.reason, metadata: { ...info?.metadata } });
}

// ---------------------------------------------------------------------------
// fetch: Connect JSON over HTTP/1.1, as browsers send it, written from the
// protocol specification rather than with connect-es.

function fetchClient(baseUrl: string, useGet: boolean): EdgeClient {
  const httpMethods: string[] = [];
  const urlOf = (method: Parameters<typeof methodPath>[0]) => `${baseUrl}${methodPath(method)}`;
  const protocolHeaders = (options: EdgeCallOptions, contentType?: string): Record<string, string> => ({
    ...(contentType ? { "content-type": contentType } : {}),
    "connect-protocol-version": "1",
    ...(options.timeoutMs === undefined ? {} : { "connect-timeout-ms": String(options.timeoutMs) }),
    ...options.headers,
  });

  async function unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    options: EdgeCallOptions,
  ): Promise<MessageShape<O>> {
    const json = JSON.stringify(toJson(method.input, create(method.input, request)));
    const asGet = useGet && method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    httpMethods.push(asGet ? "GET" : "POST");
    const response = await fetchOrFail(
      asGet
        ? `${urlOf(method)}?connect=v1&encoding=json&message=${encodeURIComponent(json)}`
        : urlOf(method),
      asGet
        ? { method: "GET", headers: protocolHeaders(options), signal: options.signal }
        : { method: "POST", headers: protocolHeaders(options, "application/json"), body: json, signal: options.signal },
    );
    copyInto(options.received, response.headers);
    const body: unknown = await response.json().catch(() => ({}));
    if (response.status !== 200) throw new EdgeCallError(failureOfJson(body, response.status));
    return fromJson(method.output, body as never);
  }

  async function* serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
    options: EdgeCallOptions,
  ): AsyncGenerator<MessageShape<O>> {
    httpMethods.push("POST");
    const response = await fetchOrFail(urlOf(method), {
      method: "POST",
      headers: protocolHeaders(options, "application/connect+json"),
      body: envelope(0, Buffer.from(JSON.stringify(toJson(method.input, create(method.input, request))))),
      signal: options.signal,
    });
    copyInto(options.received, response.headers);
    if (response.status !== 200) throw new EdgeCallError(failureOfJson(await response.json().catch(() => ({})), response.status));
    try {
      for await (const { flags, data } of envelopes(response.body!)) {
        const json: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
        if ((flags & 0b10) === 0) {
          yield fromJson(method.output, json as never);
          continue;
        }
        const end = json as { error?: unknown; metadata?: Record<string, string[]> };
        for (const [name, values] of Object.entries(end.metadata ?? {})) options.received?.set(name, values.join(", "));
        if (end.error) throw new EdgeCallError(failureOfJson(end.error, 200));
        return;
      }
    } catch (error) {
      if (error instanceof EdgeCallError) throw error;
      if (options.signal?.aborted) throw new EdgeCallError({ code: Code.Canceled, message: "aborted by the client", reason: undefined, metadata: {} });
      throw error;
    }
    throw new EdgeCallError({ code: Code.Unknown, message: "the stream ended without an end-stream message", reason: undefined, metadata: {} });
  }

  return {
    httpMethods,
    getCurrentUser: (options = {}) => unary(UserService.method.getCurrentUser, {}, options),
    getDeployment: (request, options = {}) => unary(DeploymentService.method.getDeployment, request, options),
    createDeployment: (request, options = {}) => unary(DeploymentService.method.createDeployment, request, options),
    watchDeployments: (request, options = {}) => serverStream(DeploymentService.method.watchDeployments, request, options),
    close: () => undefined,
  };
}

async function fetchOrFail(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw new EdgeCallError({ code: Code.Canceled, message: "aborted by the client", reason: undefined, metadata: {} });
    // The edge did not answer at all: what a browser sees as a network error.
    throw new EdgeCallError({ code: Code.Unavailable, message: `fetch failed: ${String(error)}`, reason: undefined, metadata: {} });
  }
}

/** A Connect JSON error ({code, message, details}) as a failure. */
function failureOfJson(body: unknown, httpStatus: number): EdgeFailure {
  const error = body as { code?: string; message?: string; details?: { type: string; value: string }[] };
  const info = (error.details ?? []).find((d) => d.type === "google.rpc.ErrorInfo");
  const decoded = info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")) : undefined;
  return {
    code: error.code ? codeOfName(error.code) : Code.Unknown,
    message: error.message ?? `HTTP ${httpStatus}`,
    reason: decoded?.reason,
    metadata: { ...decoded?.metadata },
  };
}

/** "deadline_exceeded" → Code.DeadlineExceeded. */
function codeOfName(name: string): Code {
  const key = name
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("") as keyof typeof Code;
  return typeof Code[key] === "number" ? Code[key] : Code.Unknown;
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const framed = Buffer.alloc(5 + data.length);
  framed.writeUInt8(flags, 0);
  framed.writeUInt32BE(data.length, 1);
  framed.set(data, 5);
  return framed;
}

async function* envelopes(body: ReadableStream<Uint8Array>): AsyncGenerator<{ flags: number; data: Uint8Array }> {
  let buffered = Buffer.alloc(0);
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
      const length = buffered.readUInt32BE(1);
      yield { flags: buffered[0]!, data: buffered.subarray(5, 5 + length) };
      buffered = buffered.subarray(5 + length);
    }
  }
}

// ---------------------------------------------------------------------------
// Shared.

function copyInto(target: Headers | undefined, source: Headers): void {
  if (!target) return;
  source.forEach((value, name) => target.set(name, value));
}

function copyMetadataInto(target: Headers | undefined, source: Metadata): void {
  if (!target) return;
  for (const [name, values] of Object.entries(source.toJSON())) {
    if (!name.endsWith("-bin")) target.set(name, values.map(String).join(", "));
  }
}

/** The failure a call ended with; fails the test when it succeeded or threw something other than an EdgeCallError. */
export async function edgeFailureOf(call: Promise<unknown> | (() => Promise<unknown>)): Promise<EdgeFailure> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (error) {
    if (error instanceof EdgeCallError) return error.failure;
    throw error;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** How a recorded stream ended. */
export type StreamEnd = { how: "completed" } | { how: "failed"; failure: EdgeFailure };

/** A server stream read in the background. */
export interface StreamRecording<M> {
  readonly messages: M[];
  /** Settles (never rejects) when the stream ends. */
  readonly ended: Promise<StreamEnd>;
  /** Resolves once `predicate(messages)` holds; rejects if the stream ends first or after `timeoutMs` (a hang guard). */
  until(predicate: (messages: readonly M[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Cancels the call from the client side. */
  abort(): void;
}

/** Opens a stream with `open(signal)` and reads it in the background. */
export function recordStream<M>(open: (signal: AbortSignal) => AsyncIterable<M>): StreamRecording<M> {
  const controller = new AbortController();
  const messages: M[] = [];
  const waiters = new Set<() => void>();
  let end: StreamEnd | undefined;
  const ended = (async (): Promise<StreamEnd> => {
    try {
      for await (const message of open(controller.signal)) {
        messages.push(message);
        for (const check of [...waiters]) check();
      }
      return { how: "completed" };
    } catch (error) {
      if (error instanceof EdgeCallError) return { how: "failed", failure: error.failure };
      return { how: "failed", failure: { code: Code.Unknown, message: `not an EdgeCallError: ${String(error)}`, reason: undefined, metadata: {} } };
    }
  })();
  void ended.then((result) => {
    end = result;
    for (const check of [...waiters]) check();
  });
  return {
    messages,
    ended,
    until(predicate, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`gave up waiting for ${what}; ${messages.length} messages`));
        }, timeoutMs);
        const check = () => {
          if (predicate(messages)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          } else if (end) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the stream ended (${JSON.stringify(end)}) before ${what}; ${messages.length} messages`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    abort: () => controller.abort(),
  };
}

/** Resolves with `promise`, or rejects after `ms`: an upper bound against hangs, never a timing check. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Code names, for readable assertion messages. */
export const codeName = (code: Code): string => Code[code];
