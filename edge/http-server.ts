import { createServer as createHttp1Server } from "node:http";
import { createSecureServer, createServer as createHttp2Server } from "node:http2";
import { createServer as createTcpServer, type Server } from "node:net";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { maxHeaderBytes } from "./protections/limits.js";

/** A request handler for HTTP/1.1 and HTTP/2 alike (connect-node's own handler type). */
export type EdgeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/** A request of either HTTP version. */
export type EdgeRequest = Parameters<EdgeHandler>[0];

/** A response of either HTTP version. */
export type EdgeResponse = Parameters<EdgeHandler>[1];

/** The HTTP/2 client preface; a cleartext connection starting with it is h2c. */
const h2Preface = "PRI * HTTP/2.0";

/**
 * One port for every client. Cleartext: browsers and curl speak HTTP/1.1,
 * gRPC clients h2c with prior knowledge; the first bytes of each connection
 * tell which, and it is handed to the matching server. With TLS, ALPN
 * negotiates HTTP/2 or HTTP/1.1.
 */
export function createEdgeHttpServer(handler: EdgeHandler, tls?: { cert: Buffer; key: Buffer }): Server {
  const limits = { maxHeaderSize: maxHeaderBytes, settings: { maxHeaderListSize: maxHeaderBytes } };
  if (tls) return createSecureServer({ ...tls, ...limits, allowHTTP1: true }, handler);
  const http1 = createHttp1Server({ maxHeaderSize: maxHeaderBytes }, handler);
  const http2 = createHttp2Server({ settings: limits.settings }, handler);
  return createTcpServer((socket) => {
    socket.once("data", (first) => {
      socket.pause();
      socket.unshift(first);
      const target = first.toString("latin1", 0, h2Preface.length) === h2Preface ? http2 : http1;
      target.emit("connection", socket);
      process.nextTick(() => socket.resume());
    });
    socket.on("error", () => socket.destroy());
  });
}
