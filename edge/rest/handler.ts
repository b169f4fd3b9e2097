import { fromBinary, toBinary, type JsonValue } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../services/kit/logger.js";
import type { Route } from "../connect-routes.js";
import { sendJson } from "../endpoints/responses.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { inflateWithin } from "../protections/inflate.js";
import { sendRefusal } from "../protections/limits.js";
import { readBody } from "../protocol/request-body.js";
import { clientLeft, type ForwardOptions, type Upstream } from "../upstream/forward.js";
import type { Route as Routed } from "../routing/classify.js";
import type { RequestIds } from "../routing/request-ids.js";
import { compileBindings, findBinding, type RestBinding } from "./bindings.js";
import { requestTimeoutMs } from "./deadline.js";
import { asConnectError } from "./errors.js";
import { methodNotAllowed, restRefusal } from "./refusals.js";
import { buildRequest } from "./request.js";
import { responseJson } from "./response.js";
import { applyLastEventId, sendStream, streamFormatOf } from "./streams.js";

/** The query of a request without one (read only). */
const noQuery = new URLSearchParams();

/** Serves a REST request (see createRestHandler); `bindings` are the rules it serves, for the caller's findBinding. */
export interface RestHandler {
  (req: EdgeRequest, res: EdgeResponse, route: Routed): boolean;
  readonly bindings: readonly RestBinding[];
}

/** What the REST handler needs from the edge. */
export interface RestHandlerOptions {
  /** The routed services; every method with a google.api.http rule is served. */
  routes: readonly Route[];
  /** Deadline of unary calls whose client names none; server streams get none. */
  defaultTimeoutMs: number;
  /** The most bytes a compressed body (Content-Encoding gzip, deflate or br) may inflate to. */
  maxBodyBytes: number;
  /** The client's address, passed upstream as x-forwarded-for. */
  clientAddress(req: EdgeRequest): string | undefined;
  /** Where unexpected failures (sent as a bare INTERNAL) are logged with their cause. */
  logger?: Pick<Logger, "error">;
}

/**
 * REST transcoding from each method's google.api.http rule (and its
 * additional_bindings), compiled once, with no per-method code: the HTTP
 * method and path pick the rule; path variables, the JSON body and query
 * parameters build the request (request.ts); the call is forwarded to the
 * owning service over gRPC with the client's headers, deadline and
 * cancellation; the answer is proto3 JSON (response.ts) with 200, or 201 for
 * POST to a Create* method; server streams are SSE or NDJSON (streams.ts);
 * failures are google.rpc.Status JSON with grpc-gateway's HTTP status,
 * written by the edge's one REST error writer (protocol/send-error.ts), and
 * the edge's own refusals (refusals.ts; a body that inflates past
 * `maxBodyBytes`: 413) with theirs and an ErrorInfo.
 *
 * The handler takes the request's routing decision: its match, when the
 * caller has found it with findBinding among `bindings` (else it finds it
 * itself), and the ids passed upstream. Returns
 * false, having done nothing, when no rule's path matches (and for OPTIONS,
 * left to CORS), so the caller can fall through; a matching path with
 * another method gets 405 with Allow.
 */
export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const bindings = compileBindings(options.routes.map((route) => route.service));
  const upstreams = new Map<RestBinding, Upstream>();
  for (const binding of bindings) upstreams.set(binding, options.routes.find((route) => route.service === binding.method.parent)!.upstream);
  const handle = (req: EdgeRequest, res: EdgeResponse, route: Routed): boolean => {
    const httpMethod = (req.method ?? "GET").toUpperCase();
    if (httpMethod === "OPTIONS") return false;
    const url = req.url ?? "/";
    const queryAt = url.indexOf("?");
    const rawPath = queryAt === -1 ? url : url.slice(0, queryAt);
    const match = route.rest ?? findBinding(bindings, httpMethod, rawPath);
    if (match.kind === "none") return false;
    if (match.kind === "method-not-allowed") {
      sendRefusal(req, res, "rest", methodNotAllowed(httpMethod, rawPath, match.allowed), { allow: match.allowed.join(", ") });
      return true;
    }

    // Only a stream needs a signal: a unary call watches its client's response itself, which costs less.
    const controller = match.binding.method.methodKind === "server_streaming" ? new AbortController() : undefined;
    if (controller) {
      res.once("close", () => {
        if (!res.writableEnded) controller.abort();
      });
    }
    const query = queryAt === -1 ? noQuery : new URLSearchParams(url.slice(queryAt + 1));
    serve(match.binding, upstreams.get(match.binding)!, match.variables, query, route.ids, req, res, controller?.signal, options).catch((error: unknown) => {
      if (!(error instanceof ConnectError)) options.logger?.error({ err: error, path: rawPath }, "REST request failed");
      if (error === clientLeft || controller?.signal.aborted) return;
      if (res.headersSent) {
        if (!res.writableEnded) res.end();
        return;
      }
      sendRefusal(req, res, "rest", asConnectError(error));
    });
    return true;
  };
  return Object.assign(handle, { bindings });
}

async function serve(
  binding: RestBinding,
  upstream: Upstream,
  variables: string[],
  query: URLSearchParams,
  ids: RequestIds,
  req: EdgeRequest,
  res: EdgeResponse,
  /** A server stream's signal, aborted when the client goes away; undefined for unary calls. */
  signal: AbortSignal | undefined,
  options: RestHandlerOptions,
): Promise<void> {
  const { method } = binding;
  const streaming = method.methodKind === "server_streaming";
  const timeoutMs = requestTimeoutMs(req.headers) ?? (streaming ? undefined : options.defaultTimeoutMs);
  const body = binding.request.body.kind === "none" ? undefined : await readJson(req, options.maxBodyBytes);
  const request = buildRequest(binding.request, { variables, query, body });
  if (binding.sse) applyLastEventId(method.input, binding.sse.lastEventId, request, req);
  // A stream is cancelled through its signal; a unary call by its client's response closing early.
  const forward: ForwardOptions = { headers: req.headers, ids, timeoutMs, signal, client: signal ? undefined : res, clientAddress: options.clientAddress(req) };
  const bytes = toBinary(method.input, request);

  if (streaming) {
    const format = streamFormatOf(req);
    await sendStream(res, format, method.output, binding.responseBody, binding.sse?.eventId, upstream.serverStream(binding.path, bytes, forward), signal!);
    return;
  }
  const reply = await upstream.unary(binding.path, bytes, forward);
  const json = responseJson(method.output, binding.responseBody, fromBinary(method.output, reply));
  sendJson(res, binding.successStatus, JSON.stringify(json));
}

/**
 * The request body as JSON, held to `maxBodyBytes` as it arrives and
 * inflated within it when it has a Content-Encoding; undefined when it is
 * empty; INVALID_ARGUMENT when it is not JSON or does not inflate.
 */
async function readJson(req: EdgeRequest, maxBodyBytes: number): Promise<JsonValue | undefined> {
  const received = await readBody(req, maxBodyBytes);
  const encoding = req.headers["content-encoding"]?.trim().toLowerCase();
  const text = (encoding ? await inflateWithin(encoding, received, maxBodyBytes) : received).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw restRefusal("MALFORMED_REQUEST", "body", `the request body is not valid JSON: ${(error as Error).message}`);
  }
}
