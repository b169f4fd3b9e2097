import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { edgeProtocols, recordStream, type EdgeClient } from "../support/edge-protocols.js";
import { repoRoot } from "../support/program.js";
import { selfSignedCertificate } from "../support/self-signed-certificate.js";
import { admin } from "../support/users-service.js";
import { changesOf } from "../support/watching.js";

// Finding 6: the edge never closed idle or slow connections (250 idle or
// 1-byte-per-10-s connections stayed open for 130 s), and with a 300 file
// limit 320 idle sockets made /healthz time out. Every phase of a connection
// is now bounded, and one client address may hold only so many.

/** Small bounds, so each attack's connections are closed within seconds. */
const fastLimits = {
  LAUNCHPAD_EDGE_FIRST_BYTE_TIMEOUT: "1s",
  LAUNCHPAD_EDGE_HEADERS_TIMEOUT: "1s",
  LAUNCHPAD_EDGE_BODY_TIMEOUT: "1s",
  LAUNCHPAD_EDGE_IDLE_TIMEOUT: "1s",
};
/** The latest a connection may close: the 1 s bound, Node's check interval and HTTP/1.1 keep-alive's extra second, with slack for a loaded machine. */
const closedWithinMs = 6_000;
/** Earlier than this, a close was not the bound's doing. */
const notBeforeMs = 900;
/** Bytes of a request line and headers that never end. */
const endlessHeaders = `GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Slow: ${"a".repeat(200)}`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startStack(env: { edge?: Record<string, string>; deployments?: Record<string, string> }): Promise<TestEdgeStack> {
  const stack = await startTestEdgeStack(env);
  cleanups.push(() => stack.stop());
  return stack;
}

/** A raw client connection: what it received, and how long after `since` it closed. */
interface Raw {
  socket: Socket;
  received(): string;
  /** Milliseconds from `since` (when the connection opened, unless moved) to its close. */
  closedAfterMs: Promise<number>;
  since: number;
}

function track(socket: Socket): Raw {
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => undefined);
  cleanups.push(() => void socket.destroy());
  const raw: Raw = {
    socket,
    received: () => Buffer.concat(chunks).toString("latin1"),
    since: Date.now(),
    closedAfterMs: once(socket, "close").then(() => Date.now() - raw.since),
  };
  return raw;
}

async function openTcp(port: number, localAddress?: string): Promise<Raw> {
  const raw = track(netConnect({ port, host: "127.0.0.1", localAddress }));
  await once(raw.socket, "connect");
  raw.since = Date.now();
  return raw;
}

async function openTls(port: number, ca: Buffer, alpn: string): Promise<Raw> {
  const socket = tlsConnect({ port, host: "127.0.0.1", ca, ALPNProtocols: [alpn] });
  const raw = track(socket);
  await once(socket, "secureConnect");
  expect((socket as TLSSocket).alpnProtocol).toBe(alpn);
  raw.since = Date.now();
  return raw;
}

/** Writes `text` one byte every `everyMs`, as a slowloris client does, until the connection closes. */
function dribble(raw: Raw, text: string, everyMs = 200): void {
  let next = 0;
  const timer = setInterval(() => {
    if (raw.socket.destroyed || next >= text.length) return clearInterval(timer);
    raw.socket.write(text[next++]!);
  }, everyMs);
  raw.socket.once("close", () => clearInterval(timer));
}

/** Sends one complete keep-alive request and waits for its whole answer; the clock then restarts. */
async function completeRequest(raw: Raw): Promise<void> {
  raw.socket.write("GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n");
  while (!/^HTTP\/1\.1 200[\s\S]*\r\n\r\n\{"status":"ok"\}$/.test(raw.received())) await once(raw.socket, "data");
  raw.since = Date.now();
}

function expectClosedByTheBound(closedAfterMs: number[]): void {
  expect(Math.min(...closedAfterMs)).toBeGreaterThanOrEqual(notBeforeMs);
  expect(Math.max(...closedAfterMs)).toBeLessThanOrEqual(closedWithinMs);
}

/** An HTTP/2 session to `url`; resolves how long after `since()` it closed. */
function openSession(url: string, options: http2.SecureClientSessionOptions = {}) {
  const session = http2.connect(url, options);
  session.on("error", () => undefined);
  cleanups.push(() => void session.destroy());
  let since = Date.now();
  const goaway = once(session, "goaway").then(() => true);
  return {
    session,
    restartClock: () => (since = Date.now()),
    closedAfterMs: once(session, "close").then(() => Date.now() - since),
    goaway,
  };
}

/** Makes one request on the session and reads its answer to the end. */
async function requestOver(session: http2.ClientHttp2Session, path: string): Promise<number> {
  const stream = session.request({ ":path": path });
  const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  stream.resume();
  await once(stream, "close");
  return Number(headers[":status"]);
}

/** A REST server-sent-events stream read in the background. */
async function openSse(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { ...headers, accept: "text/event-stream" }, signal: controller.signal });
  expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
  let text = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of response.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
  })().catch(() => undefined);
  return {
    async until(predicate: (text: string) => boolean, what: string): Promise<void> {
      const deadline = Date.now() + 10_000;
      while (!predicate(text)) {
        if (Date.now() > deadline) throw new Error(`no ${what} within 10 s; received: ${text}`);
        await sleep(50);
      }
    },
    async close(): Promise<void> {
      controller.abort();
      await reading;
    },
  };
}

/**
 * The edge's sockets on `port` that this process still holds: lines of
 * /proc/net/tcp with that local port, not listening, and still owned by a
 * descriptor (a socket the edge let go of keeps inode 0 until TCP is done).
 */
function edgeSocketsOpen(port: number): number {
  const listening = "0A";
  return readFileSync("/proc/net/tcp", "latin1")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 9 && Number.parseInt(fields[1]!.split(":")[1]!, 16) === port && fields[3] !== listening && fields[9] !== "0")
    .length;
}

const range = (count: number) => Array.from({ length: count }, (_, i) => i);

describe("the edge bounds every phase of a connection (finding 6)", () => {
  it("HTTP/1.1: 125 idle and 125 slowloris connections (one header byte at a time) are closed within the bound", async () => {
    const stack = await startStack({ edge: { ...fastLimits, LAUNCHPAD_EDGE_MAX_CONNECTIONS_PER_ADDRESS: "300" } });
    const idle = await Promise.all(range(125).map(() => openTcp(stack.edge.port)));
    const slow = await Promise.all(range(125).map(() => openTcp(stack.edge.port)));
    for (const raw of slow) dribble(raw, endlessHeaders);

    expectClosedByTheBound(await Promise.all(idle.map((raw) => raw.closedAfterMs)));
    expectClosedByTheBound(await Promise.all(slow.map((raw) => raw.closedAfterMs)));
    // The slow ones were told why.
    expect(slow.filter((raw) => raw.received().startsWith("HTTP/1.1 408 "))).toHaveLength(125);
    // The edge still answers.
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });

  it("HTTP/1.1: an idle keep-alive connection, and a body sent one byte at a time, are closed within the bound", async () => {
    const stack = await startStack({ edge: fastLimits });
    const keptAlive = await Promise.all(range(20).map(() => openTcp(stack.edge.port)));
    await Promise.all(keptAlive.map(completeRequest));
    const slowBody = await openTcp(stack.edge.port);
    slowBody.socket.write("POST /v1/users HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
    dribble(slowBody, `{"user":{"displayName":"${"s".repeat(80)}"}}`);

    expectClosedByTheBound(await Promise.all(keptAlive.map((raw) => raw.closedAfterMs)));
    // Headers plus body: 2 s.
    const slowClosedAfterMs = await slowBody.closedAfterMs;
    expect(slowClosedAfterMs).toBeGreaterThanOrEqual(2 * notBeforeMs);
    expect(slowClosedAfterMs).toBeLessThanOrEqual(closedWithinMs + 1_000);
    expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("h2c: a connection that opens no stream, one idle after its last stream, and a body sent one byte at a time are ended within the bound", async () => {
    const stack = await startStack({ edge: fastLimits });
    const silent = openSession(stack.url);
    const used = openSession(stack.url);
    expect(await requestOver(used.session, "/healthz")).toBe(200);
    used.restartClock();

    const withSlowBody = openSession(stack.url);
    const stream = withSlowBody.session.request({
      ":method": "POST",
      ":path": "/launchpad.user.v1.UserService/GetUser",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => undefined);
    const startedAt = Date.now();
    const streamClosed = once(stream, "close").then(() => Date.now() - startedAt);
    const dribbler = setInterval(() => stream.write(Buffer.of(0)), 200);
    cleanups.push(() => clearInterval(dribbler));

    expectClosedByTheBound([await silent.closedAfterMs, await used.closedAfterMs]);
    expect(await silent.goaway).toBe(true);
    expectClosedByTheBound([await streamClosed]);
    expect(stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("TLS: a connection that never handshakes, idle HTTP/1.1 and HTTP/2 connections, and slowloris headers are closed within the bound", async () => {
    const dir = mkdtempSync(join(tmpdir(), "launchpad-edge-connections-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = selfSignedCertificate(dir);
    const ca = readFileSync(files.cert);
    const stack = await startStack({ edge: { ...fastLimits, LAUNCHPAD_TLS_CERT: files.cert, LAUNCHPAD_TLS_KEY: files.key } });
    const port = stack.edge.port;

    const noHandshake = await openTcp(port);
    const http1 = await openTls(port, ca, "http/1.1");
    await completeRequest(http1);
    const slowloris = await openTls(port, ca, "http/1.1");
    dribble(slowloris, endlessHeaders);
    const h2 = openSession(`https://127.0.0.1:${port}`, { ca });
    expect(await requestOver(h2.session, "/healthz")).toBe(200);
    h2.restartClock();

    expectClosedByTheBound(await Promise.all([noHandshake.closedAfterMs, http1.closedAfterMs, slowloris.closedAfterMs, h2.closedAfterMs]));
    expect(slowloris.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("TLS: a connection that negotiates HTTP/2 and then sends nothing, not even the preface, is dropped within the bound", async () => {
    const dir = mkdtempSync(join(tmpdir(), "launchpad-edge-connections-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const files = selfSignedCertificate(dir);
    const stack = await startStack({ edge: { ...fastLimits, LAUNCHPAD_TLS_CERT: files.cert, LAUNCHPAD_TLS_KEY: files.key } });
    const port = stack.edge.port;

    // Like the attack, the clients do not even read what the edge sends, so they never close on their own.
    for (const _ of range(5)) {
      const socket = tlsConnect({ port, host: "127.0.0.1", ca: readFileSync(files.cert), ALPNProtocols: ["h2"] });
      socket.on("error", () => undefined);
      cleanups.push(() => void socket.destroy());
      await once(socket, "secureConnect");
      expect(socket.alpnProtocol).toBe("h2");
    }
    expect(edgeSocketsOpen(port)).toBe(5);

    const deadline = Date.now() + closedWithinMs;
    while (edgeSocketsOpen(port) > 0 && Date.now() < deadline) await sleep(100);
    expect(edgeSocketsOpen(port)).toBe(0);
  });

  it("a quiet watch stream through the edge outlives the idle timeout on every protocol, and still delivers changes", async () => {
    // Heartbeats every 30 s: nothing flows on the streams while they wait, three times the idle timeout.
    const stack = await startStack({ edge: fastLimits, deployments: { LAUNCHPAD_WATCH_HEARTBEAT: "30s" } });
    const token = await stack.users.login(admin.email, admin.password);
    const headers = { authorization: `Bearer ${token}` };
    const service = `quiet-watch-${Date.now()}`;
    const clients: EdgeClient[] = edgeProtocols.map((protocol) => protocol.client(stack.url));
    cleanups.push(() => clients.forEach((client) => client.close()));
    const watches = clients.map((client) =>
      recordStream((signal) => client.watchDeployments({ filter: `service = "${service}"` }, { headers, signal })),
    );
    cleanups.push(async () => {
      for (const watch of watches) watch.abort();
      await Promise.all(watches.map((watch) => watch.ended));
    });
    await Promise.all(watches.map((watch) => watch.until((m) => m.some((r) => r.kind.case === "snapshot"), "the snapshot")));
    const sse = await openSse(`${stack.url}/v1/deployments:watch?filter=${encodeURIComponent(`service = "${service}"`)}`, headers);
    cleanups.push(() => sse.close());
    await sse.until((text) => text.includes('"snapshot"'), "the SSE snapshot");

    await sleep(3_000);
    const { deployment } = await stack.deployments.client.createDeployment(
      { deployment: { service, version: "1.0.0", environment: "staging" } },
      stack.auth(token),
    );

    await Promise.all(
      watches.map((watch, i) =>
        watch.until((m) => changesOf(m).some((c) => c.deployment?.name === deployment!.name), `the change, over ${edgeProtocols[i]!.name}`),
      ),
    );
    await sse.until((text) => text.includes(deployment!.name), "the change, over REST server-sent events");
  });
});

/** Opens `count` gRPC streams at once on one h2c session, each sending headers but never ending its body. */
function openUnendedStreams(session: http2.ClientHttp2Session, count: number) {
  return range(count).map(() => {
    const stream = session.request(
      { ":method": "POST", ":path": "/launchpad.user.v1.UserService/GetUser", "content-type": "application/grpc", te: "trailers" },
      { endStream: false },
    );
    stream.on("error", () => undefined);
    stream.resume();
    // The answer's headers, or undefined when none came within 3 s.
    const response = new Promise<http2.IncomingHttpHeaders | undefined>((resolve) => {
      stream.once("response", resolve);
      stream.once("close", () => resolve(undefined));
      setTimeout(() => resolve(undefined), 3_000);
    });
    return { stream, response, closed: new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode))) };
  });
}

describe("streams per HTTP/2 connection", () => {
  it("one connection opening 1,000 streams gets 100; the rest are refused, and /healthz keeps answering", async () => {
    const stack = await startStack({});
    // Sent before the edge's SETTINGS arrive, so the client does not hold them back itself.
    const session = http2.connect(stack.url, { peerMaxConcurrentStreams: 2_000 });
    session.on("error", () => undefined);
    cleanups.push(() => void session.destroy());
    const settings = once(session, "remoteSettings").then(([received]) => received as http2.Settings);
    const streams = openUnendedStreams(session, 1_000);

    expect((await settings).maxConcurrentStreams).toBe(100);
    const deadline = Date.now() + 5_000;
    while (streams.filter((s) => s.stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM).length < 900 && Date.now() < deadline) await sleep(50);
    const rstCodes = streams.map((s) => s.stream.rstCode);
    expect(rstCodes.filter((code) => code === http2.constants.NGHTTP2_REFUSED_STREAM).length).toBe(900);

    const health = await fetch(`${stack.url}/healthz`, { signal: AbortSignal.timeout(2_000) });
    expect(health.status).toBe(200);
  });

  it("a stream the edge refuses with 429 is closed with the answer though the client never ends its body", async () => {
    const stack = await startStack({ edge: { LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "5" } });
    const session = http2.connect(stack.url);
    session.on("error", () => undefined);
    cleanups.push(() => void session.destroy());

    const streams = openUnendedStreams(session, 30);
    const answers = await Promise.all(streams.map((s) => s.response));
    const limited = streams.filter((_, i) => answers[i]?.["grpc-status"] === "8");
    expect(limited.length).toBeGreaterThanOrEqual(20);
    for (const answer of answers.filter((a) => a?.["grpc-status"] === "8")) expect(answer?.["retry-after"]).toMatch(/^\d+$/);
    // Closed by the edge, with NO_ERROR, well before the 60 s body timeout.
    const codes = await Promise.race([Promise.all(limited.map((s) => s.closed)), sleep(2_000).then(() => "still open")]);
    expect(codes).toEqual(limited.map(() => http2.constants.NGHTTP2_NO_ERROR));
  });
});

/** The edge as the program runs it (`--target=edge`), in its own process limited to 300 file descriptors; resolves its port. */
async function startEdgeWith300Files(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-edge-connections-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn("prlimit", ["--nofile=300", process.execPath, "--import", "tsx", "bin/launchpad.ts", "--target=edge"], {
    cwd: repoRoot,
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LAUNCHPAD_"))),
      LAUNCHPAD_DATA_DIR: dataDir,
      LAUNCHPAD_EDGE_PORT: "0",
      LAUNCHPAD_PROXY_SECRET: "a proxy secret long enough for the edge to start",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await once(child, "close");
    }
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      const match = /edge\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once("close", (code) => reject(new Error(`the edge exited (${code}):\n${stdout}\n${stderr}`)));
  });
  return { child, port };
}

/** 320 connections from 127.0.0.2 that send nothing; resolves those still open half a second later. */
async function idleAttack(port: number): Promise<Raw[]> {
  const attack = await Promise.all(range(320).map(() => openTcp(port, "127.0.0.2").catch(() => undefined)));
  await sleep(500);
  return attack.filter((raw): raw is Raw => raw !== undefined && !raw.socket.destroyed && raw.socket.readyState === "open");
}

describe("connections per client address (finding 6)", () => {
  it("320 idle sockets from one address do not stop /healthz answering on an edge limited to 300 files", async () => {
    // Every setting its default.
    const edge = await startEdgeWith300Files();

    const stillOpen = await idleAttack(edge.port);

    const health = await fetch(`http://127.0.0.1:${edge.port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    expect(health.status).toBe(200);
    // The default cap, 128 a client address; the rest were closed at once.
    expect(stillOpen.length).toBeLessThanOrEqual(128);
    expect(stillOpen.length).toBeGreaterThanOrEqual(100);
    expect(edge.child.exitCode).toBeNull();
  });
});
