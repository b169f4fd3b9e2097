import type { Http2SecureServer, Http2Server, Http2ServerRequest, ServerHttp2Session } from "node:http2";
import { constants as http2 } from "node:http2";
import type { Socket } from "node:net";
import { Server as TlsServer } from "node:tls";
import { settings } from "../services/kit/config.js";
import { addressKey } from "../services/kit/client-address-key.js";

/** The settings bounding how long clients may take and how many connections each may hold, to spread into the edge's settings. */
export const connectionLimitSettings = {
  firstByteTimeout: settings.duration(
    "LAUNCHPAD_EDGE_FIRST_BYTE_TIMEOUT",
    "10s",
    "Time a new connection has to send its first byte (with TLS: to finish its handshake); 0s: unbounded",
  ),
  headersTimeout: settings.duration(
    "LAUNCHPAD_EDGE_HEADERS_TIMEOUT",
    "20s",
    "Time a request has to send its complete headers (HTTP/2: a new connection to open its first stream); 0s: unbounded",
  ),
  bodyTimeout: settings.duration(
    "LAUNCHPAD_EDGE_BODY_TIMEOUT",
    "60s",
    "Time a request has to send its complete body after its headers (HTTP/1.1: 408, HTTP/2: the stream is reset); 0s: unbounded",
  ),
  idleTimeout: settings.duration(
    "LAUNCHPAD_EDGE_IDLE_TIMEOUT",
    "60s",
    "Time a connection may stay open with no request in flight (HTTP/1.1 keep-alive, HTTP/2 without open streams); 0s: unbounded",
  ),
  maxConnectionsPerAddress: settings.integer(
    "LAUNCHPAD_EDGE_MAX_CONNECTIONS_PER_ADDRESS",
    128,
    "Open connections one client address (IPv6: one /64) may hold; more are closed at once; 0: unlimited",
  ),
  maxStreamsPerConnection: settings.integer(
    "LAUNCHPAD_EDGE_MAX_STREAMS_PER_CONNECTION",
    100,
    "Concurrent streams one HTTP/2 connection may hold (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused; 0: unlimited",
  ),
};

/** How long clients may take, in milliseconds (0: unbounded), how many connections each address and streams each HTTP/2 connection may hold (0: unlimited). */
export interface ConnectionLimits {
  firstByteTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  idleTimeout: number;
  maxConnectionsPerAddress: number;
  maxStreamsPerConnection: number;
}

/** The settings' defaults. */
export const defaultConnectionLimits: ConnectionLimits = {
  firstByteTimeout: connectionLimitSettings.firstByteTimeout.defaultValue,
  headersTimeout: connectionLimitSettings.headersTimeout.defaultValue,
  bodyTimeout: connectionLimitSettings.bodyTimeout.defaultValue,
  idleTimeout: connectionLimitSettings.idleTimeout.defaultValue,
  maxConnectionsPerAddress: connectionLimitSettings.maxConnectionsPerAddress.defaultValue,
  maxStreamsPerConnection: connectionLimitSettings.maxStreamsPerConnection.defaultValue,
};

/**
 * Node's HTTP/1.1 timeouts for these limits, as server options (and
 * properties of the TLS server, which serves HTTP/1.1 too):
 * - headersTimeout: complete headers, from a request's first byte (a new
 *   connection counts from when it is handed to the server);
 * - requestTimeout: the complete request, so headers plus body;
 * - keepAliveTimeout: the wait for the next request;
 * - connectionsCheckingInterval: how often the first two are checked (Node's
 *   default, 30 s, would let a request run that much over).
 * Node answers the first two with 408 and closes the connection.
 */
export function http1Timeouts(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.bodyTimeout === 0 ? 0 : limits.headersTimeout + limits.bodyTimeout,
    keepAliveTimeout: limits.idleTimeout,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(Math.min(limits.headersTimeout || 2_000, limits.bodyTimeout || 2_000) / 2))),
  };
}

/**
 * Admits a new connection unless its client address already holds
 * `max` open ones, in which case it is closed at once. Counted on accept and
 * on close, on the one JavaScript thread, so the count is exact.
 */
export function createConnectionCap(max: number): (socket: Socket) => boolean {
  const open = new Map<string, number>();
  return (socket) => {
    if (max <= 0) return true;
    const address = addressKey(socket.remoteAddress);
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return false;
    }
    open.set(address, count + 1);
    socket.once("close", () => {
      const left = open.get(address)! - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
    return true;
  };
}

/**
 * Closes a connection that sends nothing within `timeoutMs`; `arrived`
 * stops the clock once the connection is handed on.
 */
export function awaitFirstByte(socket: Socket, timeoutMs: number): { arrived(): void } {
  if (timeoutMs <= 0) return { arrived: () => undefined };
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.once("close", () => clearTimeout(timer));
  return { arrived: () => clearTimeout(timer) };
}

/**
 * Closes HTTP/2 connections that hold no open stream: a new one that opens
 * none within the headers timeout (a slow preface or header block counts as
 * none) is dropped at once; one whose last stream closed the idle timeout ago
 * gets GOAWAY, and is dropped a second later if it has not closed by then. A
 * stream in flight, such as a long watch, keeps its connection open however
 * quiet it is.
 */
export function closeIdleHttp2Sessions(server: Http2Server | Http2SecureServer, limits: ConnectionLimits): void {
  const drop = dropper(server);
  server.on("session", (session: ServerHttp2Session) => {
    let open = 0;
    let timer: NodeJS.Timeout | undefined;
    if (limits.headersTimeout > 0) timer = setTimeout(() => drop(session), limits.headersTimeout);
    session.on("stream", (stream) => {
      open++;
      clearTimeout(timer);
      stream.once("close", () => {
        open--;
        if (open === 0 && !session.closed && limits.idleTimeout > 0) {
          timer = setTimeout(() => {
            session.close();
            setTimeout(() => drop(session), 1_000).unref();
          }, limits.idleTimeout);
        }
      });
    });
    session.once("close", () => clearTimeout(timer));
  });
}

/**
 * Destroys a session and its socket. Node ends the socket of a session that
 * was closed or destroyed only once the client reads to the end, and a client
 * that reads nothing (TLS: negotiates h2, then is silent) never does; nor does
 * a session hand out its socket. Node makes each session, and announces it,
 * in its own listener for the connection, which runs before this one's, so
 * the session last announced is the connection's.
 */
function dropper(server: Http2Server | Http2SecureServer): (session: ServerHttp2Session) => void {
  const sockets = new WeakMap<ServerHttp2Session, Socket>();
  let announced: ServerHttp2Session | undefined;
  server.on("session", (session: ServerHttp2Session) => (announced = session));
  server.on(server instanceof TlsServer ? "secureConnection" : "connection", (socket: Socket) => {
    if (announced) sockets.set(announced, socket);
    announced = undefined;
  });
  return (session) => {
    session.destroy();
    sockets.get(session)?.destroy();
  };
}

/**
 * Resets an HTTP/2 request stream whose body is not complete `timeoutMs`
 * after its headers (CANCEL). A request whose body did end, whether or not
 * the handler read it, is left alone, so a server stream answering a
 * finished request may run as long as it likes.
 */
export function limitHttp2BodyTime(req: Http2ServerRequest, timeoutMs: number): void {
  const stream = req.stream;
  if (timeoutMs <= 0 || stream.endAfterHeaders) return;
  const timer = setTimeout(() => {
    const state = stream.state.state;
    if (!stream.closed && (state === http2.NGHTTP2_STREAM_STATE_OPEN || state === http2.NGHTTP2_STREAM_STATE_HALF_CLOSED_LOCAL)) {
      stream.close(http2.NGHTTP2_CANCEL);
    }
  }, timeoutMs);
  stream.once("close", () => clearTimeout(timer));
}
