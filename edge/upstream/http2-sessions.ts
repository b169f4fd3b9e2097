import { connect, type ClientHttp2Session } from "node:http2";
import { experimental } from "@grpc/grpc-js";
import { unavailable } from "./errors.js";

/** How the pool keeps its sessions alive and how it reconnects; every field has a default. */
export interface SessionPoolOptions {
  /**
   * Milliseconds between PINGs on each session, open streams or not. The
   * services take a ping without data at most every 10 s
   * (grpc.http2.min_ping_interval_without_data_ms): never less in production.
   */
  keepaliveIntervalMs?: number;
  /** Milliseconds a PING may go unanswered before its session is taken for dead and destroyed. */
  keepaliveTimeoutMs?: number;
  /** Milliseconds a new session has to receive the upstream's SETTINGS before the attempt counts as failed. */
  connectTimeoutMs?: number;
  /** The wait after a first failed connect, doubled (with ±20% jitter) after each further one. */
  reconnectBackoffMs?: number;
  /** The longest wait between connects. */
  maxReconnectBackoffMs?: number;
}

/** One upstream address: its current session, and the backoff that gates opening another after a failed connect. */
interface Upstream {
  session: ClientHttp2Session | undefined;
  backoff: experimental.BackoffTimeout;
}

function ignore(): void {}

/**
 * One HTTP/2 connection per upstream address, opened on first use and
 * reopened after it closes or fails; grpc-js servers accept any number of
 * concurrent streams on it.
 *
 * A silently dead upstream (packets dropped, socket never closed) is found
 * by keepalive PINGs: one unanswered in time destroys the session, which
 * fails its streams (UNAVAILABLE to the callers), and the next call opens a
 * new one. A connect that fails starts gRPC's connection backoff (gRPC's own
 * implementation, from grpc-js): until it ends, `session` throws UNAVAILABLE
 * at once instead of connecting per call; a connect that succeeds resets it.
 */
export function createSessionPool(options: SessionPoolOptions = {}) {
  const {
    keepaliveIntervalMs = 30_000,
    keepaliveTimeoutMs = 10_000,
    connectTimeoutMs = 20_000,
    reconnectBackoffMs = 100,
    maxReconnectBackoffMs = 10_000,
  } = options;
  const upstreams = new Map<string, Upstream>();

  function upstreamOf(address: string): Upstream {
    let upstream = upstreams.get(address);
    if (!upstream) {
      const backoff = new experimental.BackoffTimeout(ignore, { initialDelay: reconnectBackoffMs, multiplier: 2, maxDelay: maxReconnectBackoffMs });
      backoff.unref();
      upstream = { session: undefined, backoff };
      upstreams.set(address, upstream);
    }
    return upstream;
  }

  function open(address: string, upstream: Upstream): ClientHttp2Session {
    const session = connect(`http://${address}`, { settings: { enablePush: false } });
    let ready = false;
    /** The one pending deadline: the handshake's, then the next PING's or its answer's. */
    let timer = setTimeout(() => session.destroy(new Error(`no HTTP/2 handshake from ${address} in time`)), connectTimeoutMs).unref();
    const nextPing = () => {
      timer = setTimeout(ping, keepaliveIntervalMs).unref();
    };
    const ping = () => {
      if (session.closed || session.destroyed) return;
      timer = setTimeout(() => session.destroy(new Error(`${address} did not answer a keepalive PING in time`)), keepaliveTimeoutMs).unref();
      // An error means the session is going away; its close clears the timer.
      session.ping((error) => {
        if (error) return;
        clearTimeout(timer);
        nextPing();
      });
    };
    session.once("remoteSettings", () => {
      ready = true;
      upstream.backoff.reset();
      clearTimeout(timer);
      nextPing();
    });
    const forget = () => {
      if (upstream.session === session) upstream.session = undefined;
    };
    session.on("error", forget);
    session.on("goaway", forget);
    session.on("close", () => {
      forget();
      clearTimeout(timer);
      // A pool that was closed backs off from nothing.
      if (!ready && upstreams.get(address) === upstream) upstream.backoff.runOnce();
    });
    // Idle sessions must not keep the process alive.
    session.unref();
    return session;
  }

  return {
    /** The open session to `address`, or a new one; throws UNAVAILABLE while reconnecting to it backs off. */
    session(address: string): ClientHttp2Session {
      const upstream = upstreamOf(address);
      const current = upstream.session;
      if (current && !current.closed && !current.destroyed) return current;
      if (upstream.backoff.isRunning()) throw unavailable();
      upstream.session = open(address, upstream);
      return upstream.session;
    },
    close(): void {
      for (const upstream of upstreams.values()) {
        upstream.backoff.stop();
        upstream.session?.close();
      }
      upstreams.clear();
    },
  };
}
