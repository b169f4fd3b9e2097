import { fromBinary, fromJson, toBinary, toJsonString, type DescMethod, type Message } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import type { Route as ServiceRoute } from "../connect-routes.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { inflateWithin } from "../protections/inflate.js";
import { sendRefusal } from "../protections/limits.js";
import { malformedRequest } from "../protections/rejections.js";
import { readBody } from "./request-body.js";
import { connectTimeoutOf } from "./wire.js";
import { asConnectError } from "../rest/errors.js";
import type { Route } from "../routing/classify.js";
import { cookieSessionOf, type CookieSession } from "../session-cookie.js";
import type { ForwardOptions, Upstream } from "../upstream/forward.js";

/** A served method: where it goes, whether GET may call it, and its cookie mode when it has one. */
interface Target {
  path: string;
  method: DescMethod;
  upstream: Upstream;
  readOnly: boolean;
  session: CookieSession | undefined;
}

/** A call's message as the client sent it: its format, its compression, and how to get its bytes. */
interface Incoming {
  json: boolean;
  encoding: string | undefined;
  bytes(): Promise<Buffer>;
}

/**
 * A Connect GET's message (`?encoding=proto|json&message=…&base64=1&compression=…`),
 * or undefined when the query names no format (connect-node then answers).
 * The message is read as connect-node reads it: base64 (either alphabet)
 * with base64=1, else the percent-decoded text as UTF-8.
 */
function incomingOfQuery(query: URLSearchParams): Incoming | undefined {
  const format = query.get("encoding");
  if (format !== "proto" && format !== "json") return undefined;
  const message = query.get("message") ?? "";
  const bytes = query.get("base64") === "1" ? Buffer.from(message, "base64") : Buffer.from(message, "utf8");
  return { json: format === "json", encoding: query.get("compression") ?? undefined, bytes: async () => bytes };
}

function sendMessage(res: EdgeResponse, out: string | Uint8Array, json: boolean): void {
  res.writeHead(200, {
    "content-type": json ? "application/json" : "application/proto",
    "content-length": typeof out === "string" ? Buffer.byteLength(out) : out.byteLength,
  });
  res.end(out);
}

/**
 * The Connect unary fast path, beside connect-node: a POST of
 * `application/proto` is forwarded as the bytes it is, and
 * `application/json` is converted once each way — the work a Connect call
 * needs and nothing more. GET calls of NO_SIDE_EFFECTS methods and
 * compressed bodies (gzip, deflate, br; inflated within `maxBodyBytes`) take
 * the same path, so every Connect unary call is read here and a message the
 * edge cannot read is INVALID_ARGUMENT (MALFORMED_REQUEST), never INTERNAL.
 * Streams and gRPC-Web are left to connect-node (the handler returns false).
 *
 * Login, RefreshToken and Logout with `launchpad-session: cookie` keep the
 * refresh token in an HttpOnly cookie (edge/session-cookie.ts): their
 * messages are decoded, JSON or binary.
 */
export function createConnectUnary(routes: readonly ServiceRoute[], options: { defaultTimeoutMs: number; maxBodyBytes: number }) {
  const methods = new Map<string, Target>();
  for (const { service, upstream } of routes) {
    for (const method of service.methods) {
      const path = methodPath(method);
      const readOnly = method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
      if (method.methodKind === "unary") methods.set(path, { path, method, upstream, readOnly, session: cookieSessionOf(path) });
    }
  }

  async function serve(req: EdgeRequest, res: EdgeResponse, route: Route, target: Target, { json, encoding, bytes }: Incoming) {
    const timeout = connectTimeoutOf(req.headers);
    if (timeout.error) return sendRefusal(req, res, "connect-unary", timeout.error);
    const received = await bytes();
    const body = encoding === undefined ? received : await inflateWithin(encoding, received, options.maxBodyBytes);
    const forward: ForwardOptions = {
      headers: req.headers,
      ids: route.ids,
      timeoutMs: timeout.timeoutMs ?? options.defaultTimeoutMs,
      // A client that leaves before the answer cancels the upstream call.
      client: res,
      clientAddress: req.socket.remoteAddress,
    };
    if (target.session?.requested(req)) return serveWithCookie(req, res, target, target.session, json, body, forward);
    const { method } = target;
    // Binary messages go upstream undecoded; the service refuses undecodable ones as MALFORMED_REQUEST.
    const request = json ? toBinary(method.input, decode(method, true, body)) : body;
    const response = await target.upstream.unary(target.path, request, forward);
    sendMessage(res, json ? toJsonString(method.output, fromBinary(method.output, response)) : response, json);
  }

  async function serveWithCookie(
    req: EdgeRequest,
    res: EdgeResponse,
    { method, upstream, path }: Target,
    session: CookieSession,
    json: boolean,
    body: Buffer,
    forward: ForwardOptions,
  ) {
    const request = decode(method, json, body);
    let response: Message;
    try {
      session.prepare(req, request);
      response = fromBinary(method.output, await upstream.unary(path, toBinary(method.input, request), forward));
    } catch (error) {
      session.failed(req, res, ConnectError.from(error));
      throw error;
    }
    session.succeeded(req, res, response);
    sendMessage(res, json ? toJsonString(method.output, response) : toBinary(method.output, response), json);
  }

  return (req: EdgeRequest, res: EdgeResponse, route: Route): boolean => {
    const target = route.rpc && methods.get(route.rpc.path);
    if (!target || route.codec === undefined) return false;
    let incoming: Incoming | undefined;
    if (req.method === "POST") {
      const encoding = req.headers["content-encoding"];
      incoming = { json: route.codec === "json", encoding: encoding === "identity" ? undefined : encoding, bytes: () => readBody(req, options.maxBodyBytes) };
    } else if (req.method === "GET" && target.readOnly) {
      // Methods with side effects are refused GET by connect-node (405).
      const url = req.url ?? "";
      incoming = incomingOfQuery(new URLSearchParams(url.slice(url.indexOf("?") + 1)));
    }
    if (!incoming) return false;
    serve(req, res, route, target, incoming).catch((error) => sendRefusal(req, res, "connect-unary", asConnectError(error)));
    return true;
  };
}

/** A request message from JSON or binary bytes; MALFORMED_REQUEST when they are neither. */
function decode(method: DescMethod, json: boolean, body: Buffer): Message {
  try {
    return json ? fromJson(method.input, JSON.parse(body.toString("utf8"))) : fromBinary(method.input, body);
  } catch (cause) {
    throw malformedRequest(`cannot decode the request: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
