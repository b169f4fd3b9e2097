import { fromBinary, fromJson, toBinary, toJsonString, type DescMethod, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes, parseTimeout } from "@connectrpc/connect/protocol-connect";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import type { Route } from "./connect-routes.js";
import type { EdgeRequest, EdgeResponse } from "./http-server.js";
import { cookieSessionOf, type CookieSession } from "./session-cookie.js";
import type { ForwardOptions, Upstream } from "./upstream/forward.js";

const unaryContentType = /^application\/(proto|json)(?:;\s*charset=utf-?8)?$/i;
const maxTimeoutMs = 2 ** 31 - 1;

/** A served method: where it goes, and its cookie mode when it has one. */
interface Target {
  path: string;
  method: DescMethod;
  upstream: Upstream;
  session: CookieSession | undefined;
}

function readBody(req: EdgeRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function invalidRequest(cause: unknown): ConnectError {
  return new ConnectError(`cannot decode the request: ${String((cause as Error).message ?? cause)}`, Code.InvalidArgument);
}

function sendMessage(res: EdgeResponse, out: string | Uint8Array, json: boolean): void {
  res.writeHead(200, {
    "content-type": json ? "application/json" : "application/proto",
    "content-length": typeof out === "string" ? Buffer.byteLength(out) : out.byteLength,
  });
  res.end(out);
}

function sendError(res: EdgeResponse, error: ConnectError): void {
  if (res.headersSent) return void res.end();
  const body = errorToJsonBytes(error, {});
  res.writeHead(codeToHttpStatus(error.code), { "content-type": "application/json", "content-length": body.byteLength });
  res.end(body);
}

/**
 * The Connect unary fast path, beside connect-node: a POST of
 * `application/proto` is forwarded as the bytes it is, and
 * `application/json` is converted once each way — the work a Connect call
 * needs and nothing more. Compressed bodies, GET requests, streams and
 * gRPC-Web are left to connect-node (the handler returns false).
 *
 * Login, RefreshToken and Logout with `launchpad-session: cookie` keep the
 * refresh token in an HttpOnly cookie (edge/session-cookie.ts): their
 * messages are decoded, JSON or binary, and an uncompressed body is required.
 */
export function createConnectUnary(routes: readonly Route[], options: { defaultTimeoutMs: number }) {
  const methods = new Map<string, Target>();
  for (const { service, upstream } of routes) {
    for (const method of service.methods) {
      const path = methodPath(method);
      if (method.methodKind === "unary") methods.set(path, { path, method, upstream, session: cookieSessionOf(path) });
    }
  }

  async function serve(req: EdgeRequest, res: EdgeResponse, target: Target, json: boolean) {
    const timeout = parseTimeout(req.headers["connect-timeout-ms"] as string | undefined ?? null, maxTimeoutMs);
    if (timeout.error) return sendError(res, timeout.error);
    const body = await readBody(req);
    const forward: ForwardOptions = {
      headers: req.headers,
      timeoutMs: timeout.timeoutMs ?? options.defaultTimeoutMs,
      // A client that leaves before the answer cancels the upstream call.
      client: res,
      clientAddress: req.socket.remoteAddress,
    };
    if (target.session?.requested(req)) return serveWithCookie(req, res, target, target.session, json, body, forward);
    const { method } = target;
    let request: Uint8Array;
    try {
      request = json ? toBinary(method.input, fromJson(method.input, JSON.parse(body.toString("utf8")))) : body;
    } catch (cause) {
      return sendError(res, invalidRequest(cause));
    }
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
    let request: Message;
    try {
      request = json ? fromJson(method.input, JSON.parse(body.toString("utf8"))) : fromBinary(method.input, body);
    } catch (cause) {
      return sendError(res, invalidRequest(cause));
    }
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

  return (req: EdgeRequest, res: EdgeResponse): boolean => {
    if (req.method !== "POST") return false;
    const type = unaryContentType.exec(req.headers["content-type"] ?? "");
    const target = type ? methods.get(req.url ?? "") : undefined;
    if (!target) return false;
    const encoding = req.headers["content-encoding"];
    if (encoding && encoding !== "identity") {
      if (!target.session?.requested(req)) return false;
      // connect-node would answer with the token in the body, which cookie mode promises never to do.
      sendError(res, new ConnectError("cookie sessions need an uncompressed request body", Code.InvalidArgument));
      return true;
    }
    serve(req, res, target, type![1]!.toLowerCase() === "json").catch((error) =>
      sendError(res, error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal)),
    );
    return true;
  };
}
