import { constants as http2, type OutgoingHttpHeaders } from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import { sendError } from "../protocol/send-error.js";
import type { Protocol } from "../routing/classify.js";
import type { Middleware } from "./middleware.js";
import { bodyTooLarge } from "./rejections.js";

/**
 * The largest request header block the edge accepts: 16 KiB, Node's default
 * for HTTP/1.1 (`--max-http-header-size`), made explicit. Pass it to both
 * servers:
 * - `http.createServer({ maxHeaderSize: maxHeaderBytes }, …)`: Node itself
 *   answers a larger header block with 431 Request Header Fields Too Large
 *   and closes the connection; no handler runs.
 * - `http2.createServer({ settings: { maxHeaderListSize: maxHeaderBytes } }, …)`
 *   (and createSecureServer): the limit is advertised in SETTINGS, and once
 *   the client has acknowledged it a larger header block gets the stream
 *   reset (ENHANCE_YOUR_CALM); HTTP/2 has no 431 in Node. Without it Node's
 *   HTTP/2 default is 64 KiB. (The top-level `maxHeaderSize` option of
 *   http2.createServer has no effect: measured on Node 20.)
 */
export const maxHeaderBytes = 16 * 1024;

/**
 * Body size, as declared: 413 (RESOURCE_EXHAUSTED REQUEST_TOO_LARGE) at
 * once for a Content-Length over `maxBytes`, before any handler runs. A
 * body without a declared length is held to the limit by the handler's
 * body reader while it arrives (protocol/request-body.ts; connect-node's
 * own readMaxBytes on its paths).
 */
export function bodyLimit(maxBytes: number): Middleware {
  const tooLarge = bodyTooLarge(maxBytes);
  return (next) => (req, res, route) => {
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBytes) return sendRefusal(req, res, route.protocol, tooLarge);
    next(req, res, route);
  };
}

/**
 * Sends a handler's or protection's refusal. When the request's body has not
 * all arrived (refused as too large, or before it was read), the exchange
 * ends with the answer (endAfterAnswer), and over HTTP/1.1 the answer says
 * `connection: close`.
 */
export function sendRefusal(req: EdgeRequest, res: EdgeResponse, protocol: Protocol, error: ConnectError, headers: OutgoingHttpHeaders = {}): void {
  if (req.complete) return sendError(req, res, protocol, error, headers);
  sendError(req, res, protocol, error, "stream" in req ? headers : { ...headers, connection: "close" });
  endAfterAnswer(req, res);
}

/**
 * Ends an exchange the edge answered before reading the whole body: once
 * the answer is out, an HTTP/2 stream is reset with NO_ERROR (RFC 9113
 * §8.1: the client stops sending), an HTTP/1.1 connection is closed (the
 * answer says `connection: close`), and the request is destroyed so a
 * handler still reading it sees an error.
 */
export function endAfterAnswer(req: EdgeRequest, res: EdgeResponse): void {
  const finish = () => {
    if ("stream" in req) {
      if (!req.stream.closed) req.stream.close(http2.NGHTTP2_NO_ERROR);
    }
    if (!req.destroyed) req.destroy();
  };
  // Over HTTP/2 the response's "finish" waits for the stream to close, which
  // a client still sending never lets it; the stream's own comes with the answer.
  const answer = "stream" in req ? req.stream : res;
  if (answer.writableFinished) finish();
  else answer.once("finish", finish);
}
