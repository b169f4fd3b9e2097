import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { EdgeRequest } from "../http-server.js";
import { endAfterAnswer } from "../protections/limits.js";
import type { RoutedHandler } from "../protections/middleware.js";
import { unknownMethod } from "../protections/rejections.js";
import type { Route } from "../routing/classify.js";
import { createConnectServerStream } from "./connect-server-stream.js";
import { bodyIterable } from "./request-body.js";
import { sendError } from "./send-error.js";

/** What the edge's connect-node handler serves and how. */
export interface ConnectNodeHandlerOptions extends ConnectRouterOptions {
  routes(router: ConnectRouter): void;
  /** The most bytes a request body may carry as received (and each message once decompressed: readMaxBytes). */
  maxBodyBytes: number;
  /** The context values of a call, from its request and its routing decision. */
  contextValues(req: EdgeRequest, route: Route): ContextValues;
}

/**
 * connect-node's request handler, as connectNodeAdapter builds it, with two
 * differences: each request's body is read with the edge's body reader
 * (held to `maxBodyBytes` while it arrives, REQUEST_TOO_LARGE beyond), and
 * the context values are made from the request's routing decision. Connect
 * server-streaming calls to a service take the lean path
 * (connect-server-stream.ts) instead. A path
 * the router does not serve is UNIMPLEMENTED (UNKNOWN_METHOD) in the
 * caller's protocol. A call answered before its body was all read (refused
 * as too large) ends with the answer.
 */
export function createConnectNodeHandler(options: ConnectNodeHandlerOptions): RoutedHandler {
  const router = createConnectRouter({ readMaxBytes: options.maxBodyBytes, ...options });
  options.routes(router);
  const handlers = new Map(router.handlers.map((handler) => [handler.requestPath, handler]));
  const serverStream = createConnectServerStream(options);
  return (req, res, route) => {
    if (route.protocol === "connect-stream" && serverStream(req, res, route)) return;
    const handler = handlers.get(route.path);
    if (!handler) return sendError(req, res, route.protocol, unknownMethod(route.path));
    const request = { ...universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req, route)), body: bodyIterable(req, options.maxBodyBytes) };
    handler(request)
      .then((response) => universalResponseToNodeResponse(response, res))
      .then(() => {
        if (!req.complete) endAfterAnswer(req, res);
      })
      .catch((reason: unknown) => {
        // Aborted: the client went away; anything else was answered as well as it could be.
        if (ConnectError.from(reason).code !== Code.Aborted && !res.writableEnded) res.destroy();
      });
  };
}
