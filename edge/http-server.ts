import { createServer as createHttp1Server } from "node:http";
import { createSecureServer, createServer as createHttp2Server } from "node:http2";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import {
  awaitFirstByte,
  closeIdleHttp2Sessions,
  createConnectionCap,
  defaultConnectionLimits,
  http1Timeouts,
  limitHttp2BodyTime,
  type ConnectionLimits,
} from "./connection-limits.js";
import { maxHeaderBytes } from "./protections/limits.js";

/** A request handler for HTTP/1.1 and HTTP/2 alike (connect-node's own handler type). */
export type EdgeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/** A request of either HTTP version. */
export type EdgeRequest = Parameters<EdgeHandler>[0];

/** A response of either HTTP version. */
export type EdgeResponse = Parameters<EdgeHandler>[1];

/** The HTTP/2 client preface; a cleartext connection starting with it is h2c. */
const h2Preface = Buffer.from("PRI * HTTP/2.0", "latin1");

/**
 * One port for every client. Cleartext: browsers and curl speak HTTP/1.1,
 * gRPC clients h2c with prior knowledge; the first bytes of each connection
 * tell which, and it is handed to the matching server. With TLS, ALPN
 * negotiates HTTP/2 or HTTP/1.1.
 *
 * Every connection is bounded by `limits`: its client address may hold only
 * so many, it must send its first byte (or finish its TLS handshake), each
 * request its headers and its body, in time, it is closed when idle, and an
 * HTTP/2 one may hold only so many streams at once.
 */
export function createEdgeHttpServer(
  handler: EdgeHandler,
  tls?: { cert: Buffer; key: Buffer },
  limits: ConnectionLimits = defaultConnectionLimits,
): Server {
  const timed: EdgeHandler = (req, res) => {
    if ("stream" in req) limitHttp2BodyTime(req, limits.bodyTimeout);
    handler(req, res);
  };
  const admit = createConnectionCap(limits.maxConnectionsPerAddress);
  const h2Settings = {
    maxHeaderListSize: maxHeaderBytes,
    ...(limits.maxStreamsPerConnection > 0 && { maxConcurrentStreams: limits.maxStreamsPerConnection }),
  };

  if (tls) {
    const server = createSecureServer(
      { ...tls, settings: h2Settings, allowHTTP1: true, handshakeTimeout: limits.firstByteTimeout || undefined },
      timed,
    );
    // HTTP/1.1 over TLS reads its header limit and timeouts from this server's properties.
    Object.assign(server, { maxHeaderSize: maxHeaderBytes, ...http1Timeouts(limits) });
    server.on("connection", admit);
    closeIdleHttp2Sessions(server, limits);
    return server;
  }

  const http1 = createHttp1Server({ maxHeaderSize: maxHeaderBytes, ...http1Timeouts(limits) }, timed);
  const http2 = createHttp2Server({ settings: h2Settings }, timed);
  closeIdleHttp2Sessions(http2, limits);
  const server = createTcpServer((socket) => {
    socket.on("error", () => socket.destroy());
    if (!admit(socket)) return;
    const firstByte = awaitFirstByte(socket, limits.firstByteTimeout);
    sniffProtocol(socket, (isHttp2) => {
      firstByte.arrived();
      (isHttp2 ? http2 : http1).emit("connection", socket);
    });
  });
  // Node checks HTTP/1.1 header and request timeouts only on servers that
  // listen; this one is handed its connections, so it starts when the port does.
  server.on("listening", () => http1.emit("listening"));
  server.on("close", () => http1.close(() => undefined));
  return server;
}

/**
 * Reads until the first bytes tell HTTP/2's preface from anything else,
 * puts them back, and reports which it was.
 */
function sniffProtocol(socket: Socket, identified: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, h2Preface.length);
    const matches = seen.subarray(0, compared).equals(h2Preface.subarray(0, compared));
    if (matches && compared < h2Preface.length) return;
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    identified(matches);
    process.nextTick(() => socket.resume());
  };
  socket.on("data", onData);
}
