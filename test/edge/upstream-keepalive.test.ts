import { once } from "node:events";
import { createServer, connect as connectTcp, type AddressInfo, type Socket } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { Server, ServerCredentials, type ServerWritableStream, type ServiceDefinition } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createUpstream, type Upstream } from "../../edge/upstream/forward.js";
import { createSessionPool, type SessionPoolOptions } from "../../edge/upstream/http2-sessions.js";
import { within } from "../support/edge-protocols.js";

const watchPath = "/test.Keepalive/Watch";
const echoPath = "/test.Keepalive/Echo";

/** A method whose messages are bytes, passed as they are. */
function bytesMethod(path: string, responseStream: boolean) {
  const same = (message: Buffer) => message;
  return { path, requestStream: false, responseStream, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same };
}

const service: ServiceDefinition = { Watch: bytesMethod(watchPath, true), Echo: bytesMethod(echoPath, false) };

/** A real grpc-js server: Watch sends one message and then stays open; Echo answers with its request. */
async function startService(): Promise<{ port: number; stop(): void }> {
  const server = new Server();
  server.addService(service, {
    Watch: (call: ServerWritableStream<Buffer, Buffer>) => call.write(Buffer.from("snapshot")),
    Echo: (call: { request: Buffer }, callback: (error: null, response: Buffer) => void) => callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, stop: () => server.forceShutdown() };
}

/**
 * A TCP proxy to the service that a test can break in two ways:
 * "black hole" drops every byte in either direction yet closes no socket
 * (a host that stopped answering, as the pool sees it); "refuse" accepts
 * new connections and drops them at once (a failing connect), counted in
 * `accepts`.
 */
async function startFaultyLink(targetPort: number) {
  let mode: "forward" | "black hole" | "refuse" = "forward";
  let accepts = 0;
  const sockets = new Set<Socket>();
  const relay = (from: Socket, to: Socket) => from.on("data", (chunk) => mode === "black hole" || to.write(chunk));
  const server = createServer((client) => {
    accepts += 1;
    if (mode === "refuse") return client.destroy();
    const upstream = connectTcp(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        (socket === client ? upstream : client).destroy();
      });
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get accepts() {
      return accepts;
    },
    set mode(next: typeof mode) {
      mode = next;
    },
    stop() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function noVouching(): void {}

/** The gRPC code a call failed with, or "ok". */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
}

describe("upstream sessions", () => {
  let service: Awaited<ReturnType<typeof startService>>;
  let link: Awaited<ReturnType<typeof startFaultyLink>>;
  let sessions: ReturnType<typeof createSessionPool> | undefined;

  beforeAll(async () => {
    service = await startService();
  });
  beforeEach(async () => {
    link = await startFaultyLink(service.port);
  });
  afterEach(() => {
    sessions?.close();
    link.stop();
  });
  afterAll(() => service?.stop());

  /** A forwarding client of the service through the link, over a pool of its own. */
  function upstreamThroughLink(options: SessionPoolOptions): Upstream {
    sessions = createSessionPool(options);
    return createUpstream(link.address, sessions, noVouching);
  }

  const echo = (upstream: Upstream) => upstream.unary(echoPath, Buffer.from("echo"), { headers: {}, timeoutMs: 5_000 });

  it("fail an open watch with UNAVAILABLE once keepalive PINGs go unanswered, and the next call after the upstream is back succeeds", async () => {
    const upstream = upstreamThroughLink({ keepaliveIntervalMs: 200, keepaliveTimeoutMs: 1_000 });
    const watch = upstream.serverStream(watchPath, Buffer.from("watch"), { headers: {}, timeoutMs: undefined });
    const first = await watch.next();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe("snapshot");

    link.mode = "black hole";
    // Without keepalive this waits forever: the socket stays open and no deadline applies to a watch.
    // The bound is generous (PINGs every 200 ms, 1 s to answer); it is no speed figure.
    expect(await within(outcome(watch.next()), 10_000, "the watch to fail")).toBe("Unavailable");

    link.mode = "forward";
    expect(Buffer.from(await echo(upstream)).toString()).toBe("echo");
  });

  it("fail calls with UNAVAILABLE at once while reconnecting backs off, without a connect per call", async () => {
    const upstream = upstreamThroughLink({ reconnectBackoffMs: 60_000 });
    link.mode = "refuse";
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) outcomes.push(await outcome(echo(upstream)));
    expect(outcomes).toEqual(Array(20).fill("Unavailable"));
    expect(link.accepts).toBe(1);
  });

  it("connect again once the backoff has passed", async () => {
    const upstream = upstreamThroughLink({ reconnectBackoffMs: 50 });
    link.mode = "refuse";
    expect(await outcome(echo(upstream))).toBe("Unavailable");
    link.mode = "forward";
    // Bounded by the test's timeout: calls fail fast until the backoff ends, then one connects.
    let answer = await outcome(echo(upstream));
    while (answer === "Unavailable") {
      await new Promise((resolve) => setTimeout(resolve, 10));
      answer = await outcome(echo(upstream));
    }
    expect(answer).toBe("ok");
    // One refused connect, then the one that succeeded: none in between.
    expect(link.accepts).toBe(2);
  });
});
