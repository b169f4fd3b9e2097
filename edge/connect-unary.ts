import { fromBinary, fromJson, toBinary, toJsonString, type DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes, parseTimeout } from "@connectrpc/connect/protocol-connect";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import type { Route } from "./connect-routes.js";
import type { EdgeRequest, EdgeResponse } from "./http-server.js";
import { forwardedHeaders, type Upstream } from "./upstream/forward.js";

const unaryContentType = /^application\/(proto|json)(?:;\s*charset=utf-?8)?$/i;
const maxTimeoutMs = 2 ** 31 - 1;
const clientLeft = new ConnectError("the client went away", Code.Canceled);

function readBody(req: EdgeRequest): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function forwardedHeadersOf(req: EdgeRequest): Headers {
  const headers = new Headers();
  for (const name of forwardedHeaders) {
    const value = req.headers[name];
    if (typeof value === "string") headers.set(name, value);
  }
  return headers;
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
 */
export function createConnectUnary(routes: readonly Route[], options: { defaultTimeoutMs: number }) {
  const methods = new Map<string, { method: DescMethod; upstream: Upstream }>();
  for (const { service, upstream } of routes) {
    for (const method of service.methods) {
      if (method.methodKind === "unary") methods.set(methodPath(method), { method, upstream });
    }
  }

  async function serve(req: EdgeRequest, res: EdgeResponse, method: DescMethod, upstream: Upstream, json: boolean) {
    const timeout = parseTimeout(req.headers["connect-timeout-ms"] as string | undefined ?? null, maxTimeoutMs);
    if (timeout.error) return sendError(res, timeout.error);
    const cancel = new AbortController();
    // Only a client that leaves before the answer cancels; an explicit reason spares a DOMException per call.
    res.on("close", () => {
      if (!res.writableFinished) cancel.abort(clientLeft);
    });
    const body = await readBody(req);
    let request: Uint8Array;
    try {
      request = json ? toBinary(method.input, fromJson(method.input, JSON.parse(Buffer.from(body).toString("utf8")))) : body;
    } catch (cause) {
      return sendError(res, new ConnectError(`cannot decode the request: ${String((cause as Error).message ?? cause)}`, Code.InvalidArgument));
    }
    const response = await upstream.unary(methodPath(method), request, {
      headers: forwardedHeadersOf(req),
      timeoutMs: timeout.timeoutMs ?? options.defaultTimeoutMs,
      signal: cancel.signal,
      clientAddress: req.socket.remoteAddress,
    });
    const out = json ? toJsonString(method.output, fromBinary(method.output, response)) : response;
    res.writeHead(200, {
      "content-type": json ? "application/json" : "application/proto",
      "content-length": typeof out === "string" ? Buffer.byteLength(out) : out.byteLength,
    });
    res.end(out);
  }

  return (req: EdgeRequest, res: EdgeResponse): boolean => {
    if (req.method !== "POST") return false;
    const type = unaryContentType.exec(req.headers["content-type"] ?? "");
    const encoding = req.headers["content-encoding"];
    const target = type && (!encoding || encoding === "identity") ? methods.get(req.url ?? "") : undefined;
    if (!target) return false;
    serve(req, res, target.method, target.upstream, type![1]!.toLowerCase() === "json").catch((error) =>
      sendError(res, error instanceof ConnectError ? error : new ConnectError("internal error", Code.Internal)),
    );
    return true;
  };
}
