import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import http2, { type IncomingHttpHeaders } from "node:http2";
import { brotliCompressSync, createGzip, gzipSync } from "node:zlib";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Client, credentials, Metadata, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { runLaunchpad, killLaunchpads } from "../support/program.js";
import { http1Request, http2Request, type RawResponse } from "../support/raw-http.js";

// Findings 3, 7, 8 and 11: the edge's request bodies and its own answers.
// 3: compressed bodies had no decompressed-size limit (a 1 MiB gzip body took
//    11 s and 1.8 GB); every protocol now inflates within LAUNCHPAD_EDGE_MAX_BODY.
// 7: a 5 MiB gRPC body without content-length got headers and then nothing.
// 8: the edge's own 429 and 413 over gRPC were HEADERS without END_STREAM and
//    RST_STREAM(0), which grpc-js reports as INTERNAL.
// 11: undecodable Connect GET and stream bodies were answered as server errors.

const jwksPath = "/launchpad.user.v1.UserService/GetJwks";
const getUserPath = "/launchpad.user.v1.UserService/GetUser";
const watchPath = "/launchpad.deployment.v1.DeploymentService/WatchDeployments";
const mib = 1024 * 1024;
/** The edge's default limit, LAUNCHPAD_EDGE_MAX_BODY. */
const defaultMaxBody = 4 * mib;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function edgeStack(edge: Record<string, string> = {}): Promise<TestEdgeStack> {
  const stack = await startTestEdgeStack({ edge });
  cleanups.push(() => stack.stop());
  return stack;
}

const portOf = (stack: TestEdgeStack) => Number(new URL(stack.url).port);

/** A length-prefixed message frame (gRPC, gRPC-Web, Connect streams); flag 1: compressed. */
function envelope(payload: Uint8Array, flags = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flags;
  prefix.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([prefix, payload]);
}

/** The ErrorInfo reasons in a google.rpc.Status, base64 as in grpc-status-details-bin. */
function reasonsOfDetailsBin(detailsBin: string | string[] | Buffer | undefined): string[] {
  if (detailsBin === undefined) return [];
  const bytes = Buffer.isBuffer(detailsBin) ? detailsBin : Buffer.from(String(detailsBin), "base64");
  return fromBinary(StatusSchema, bytes).details.flatMap((any) => anyUnpack(any, ErrorInfoSchema) ?? []).map((info) => info.reason);
}

/** The ErrorInfo reasons of a Connect error JSON. */
function reasonsOfConnectJson(error: { details?: { type: string; value: string }[] }): string[] {
  return (error.details ?? [])
    .filter((detail) => detail.type === "google.rpc.ErrorInfo")
    .map((detail) => fromBinary(ErrorInfoSchema, Buffer.from(detail.value, "base64url")).reason);
}

/** The error of a Connect stream's end-stream message. */
function endStreamError(body: Buffer): { code: string; message: string; details?: { type: string; value: string }[] } {
  let at = 0;
  while (at + 5 <= body.length) {
    const length = body.readUInt32BE(at + 1);
    if ((body[at]! & 0b10) !== 0) return JSON.parse(body.subarray(at + 5, at + 5 + length).toString("utf8")).error;
    at += 5 + length;
  }
  throw new Error(`no end-stream message in ${body.toString("latin1")}`);
}

/** One unary call with a bare grpc-js client (no re-encoding): the status it ended with, its metadata and reasons. */
function grpcJsCall(address: string, path: string, message: Buffer): Promise<{ code: number; details: string; metadata: Metadata; reasons: string[] }> {
  const client = new Client(address, credentials.createInsecure());
  const identity = (bytes: Buffer) => bytes;
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, message, new Metadata(), (error: ServiceError | null) => {
      client.close();
      if (!error) return resolve({ code: 0, details: "", metadata: new Metadata(), reasons: [] });
      const [detailsBin] = error.metadata.get("grpc-status-details-bin");
      resolve({ code: error.code, details: error.details, metadata: error.metadata, reasons: reasonsOfDetailsBin(detailsBin as Buffer | undefined) });
    });
  });
}

/** What a raw HTTP/2 gRPC exchange showed: the first header block and its flags, trailers, the reset code, and when it ended. */
interface RawGrpc {
  headers: IncomingHttpHeaders;
  headersEndedStream: boolean;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number;
  endedAfterMs: number;
  bytesWritten: number;
}

/**
 * A gRPC call over a raw HTTP/2 stream: `body` written in 64 KiB chunks with
 * backpressure and no content-length, until it is all sent or the stream closes.
 */
function rawGrpcCall(url: string, path: string, body: Buffer, extraHeaders: Record<string, string> = {}): Promise<RawGrpc> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", () => undefined);
    const started = performance.now();
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extraHeaders });
    let headers: IncomingHttpHeaders | undefined;
    let headersEndedStream = false;
    let trailers: IncomingHttpHeaders | undefined;
    let bytesWritten = 0;
    stream.on("response", (received, flags) => {
      headers = received;
      headersEndedStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on("trailers", (received) => (trailers = received));
    stream.on("data", () => undefined);
    stream.on("error", () => undefined);
    stream.on("close", () => {
      session.close();
      if (!headers) return reject(new Error(`no response (reset ${stream.rstCode})`));
      resolve({ headers, headersEndedStream, trailers, rstCode: stream.rstCode, endedAfterMs: performance.now() - started, bytesWritten });
    });
    void (async () => {
      for (let at = 0; at < body.length && !stream.closed && !stream.destroyed; at += 64 * 1024) {
        const chunk = body.subarray(at, at + 64 * 1024);
        bytesWritten += chunk.length;
        if (!stream.write(chunk)) await Promise.race([once(stream, "drain"), once(stream, "close")]);
      }
      if (!stream.closed && !stream.destroyed) stream.end();
    })();
  });
}

/** The status of a raw gRPC exchange, from a trailers-only answer or from the trailers. */
const grpcStatusOf = (raw: RawGrpc) => Number(raw.headers["grpc-status"] ?? raw.trailers?.["grpc-status"]);

describe("finding 8: the edge's own 429 and 413 over gRPC are valid gRPC", () => {
  it("a rate-limited call reaches grpc-js as RESOURCE_EXHAUSTED with its retry-after, in one HEADERS frame that ends the stream", async () => {
    const stack = await edgeStack({ LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "1" });
    const address = `127.0.0.1:${portOf(stack)}`;
    const first = await grpcJsCall(address, jwksPath, Buffer.alloc(0));
    expect(first.code).toBe(grpcStatus.OK);

    const limited = await grpcJsCall(address, jwksPath, Buffer.alloc(0));
    expect(limited.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect(limited.details).not.toMatch(/RST_STREAM/);
    expect(Number(limited.metadata.get("retry-after")[0])).toBeGreaterThan(0);
    expect(limited.reasons).toEqual(["RATE_LIMITED"]);

    const raw = await rawGrpcCall(stack.url, jwksPath, envelope(new Uint8Array(0)));
    expect(raw.headers[":status"]).toBe(200);
    expect(raw.headers["content-type"]).toBe("application/grpc");
    expect(raw.headers["grpc-status"]).toBe("8");
    expect(decodeURIComponent(String(raw.headers["grpc-message"]))).toMatch(/^rate limit exceeded/);
    expect(Number(raw.headers["retry-after"])).toBeGreaterThan(0);
    expect(raw.headersEndedStream).toBe(true);
    expect(raw.trailers).toBeUndefined();
  });

  it("a body over the limit reaches grpc-js as RESOURCE_EXHAUSTED with the reason REQUEST_TOO_LARGE", async () => {
    const stack = await edgeStack({ LAUNCHPAD_EDGE_MAX_BODY: String(64 * 1024) });
    const address = `127.0.0.1:${portOf(stack)}`;
    // A GetUser request whose name alone is 100 KiB: field 1, length-delimited.
    const name = Buffer.alloc(100 * 1024, "x");
    const message = Buffer.concat([Buffer.from([0x0a, 0x80, 0x80, 0x06]), name]);

    const refused = await grpcJsCall(address, getUserPath, message);
    expect(refused.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect(refused.details).toBe(`request body exceeds ${64 * 1024} bytes`);
    expect(refused.reasons).toEqual(["REQUEST_TOO_LARGE"]);
  });
});

describe("finding 7: an oversized gRPC body without content-length ends promptly", () => {
  it("5 MiB over HTTP/2 with no content-length: RESOURCE_EXHAUSTED within 2 s, and the stream is closed", async () => {
    const stack = await edgeStack();
    const message = Buffer.alloc(5 * mib, 1);
    const raw = await rawGrpcCall(stack.url, getUserPath, envelope(message));

    expect(raw.headers[":status"]).toBe(200);
    expect(grpcStatusOf(raw)).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect(raw.endedAfterMs).toBeLessThan(2_000);
    // The edge stopped reading: the client could not send it all.
    expect(raw.bytesWritten).toBeLessThan(message.length + 5);
  });

  it("the same through grpc-js: RESOURCE_EXHAUSTED within 2 s, and the edge still answers", async () => {
    const stack = await edgeStack();
    const address = `127.0.0.1:${portOf(stack)}`;
    const started = performance.now();
    const refused = await grpcJsCall(address, getUserPath, Buffer.alloc(5 * mib, 1));
    expect(refused.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect((await grpcJsCall(address, jwksPath, Buffer.alloc(0))).code).toBe(grpcStatus.OK);
  });
});

describe("finding 11: client mistakes are INVALID_ARGUMENT with a reason, on every protocol", () => {
  let stack: TestEdgeStack;
  beforeAll(async () => {
    stack = await startTestEdgeStack();
  });
  afterAll(() => stack.stop());

  const expectMalformedJson = (response: RawResponse) => {
    expect(response.status).toBe(400);
    const error = JSON.parse(response.body.toString("utf8"));
    expect(error.code).toBe("invalid_argument");
    expect(reasonsOfConnectJson(error)).toEqual(["MALFORMED_REQUEST"]);
  };

  it("Connect GET with ?encoding=proto&message=%ff%ff%ff: 400 invalid_argument, MALFORMED_REQUEST", async () => {
    const response = await http1Request(portOf(stack), { path: `${jwksPath}?encoding=proto&message=%ff%ff%ff` });
    expectMalformedJson(response);
  });

  it("Connect GET with broken JSON, or a compression that does not inflate: 400 MALFORMED_REQUEST", async () => {
    expectMalformedJson(await http1Request(portOf(stack), { path: `${jwksPath}?encoding=json&message=%7Bnot` }));
    const garbage = Buffer.from("not gzip at all").toString("base64url");
    expectMalformedJson(await http1Request(portOf(stack), { path: `${jwksPath}?encoding=proto&base64=1&compression=gzip&message=${garbage}` }));
  });

  it("Connect unary POST with an undecompressable or truncated gzip body: 400 MALFORMED_REQUEST", async () => {
    const truncated = gzipSync(Buffer.from("{}")).subarray(0, 12);
    for (const body of [Buffer.from("not gzip at all"), truncated]) {
      const response = await http1Request(portOf(stack), {
        method: "POST",
        path: jwksPath,
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
        body,
      });
      expectMalformedJson(response);
    }
  });

  it("Connect streams with an undecodable, undecompressable or truncated-gzip message: invalid_argument with MALFORMED_REQUEST, not internal", async () => {
    const cases: { name: string; headers: Record<string, string>; body: Buffer }[] = [
      { name: "undecodable", headers: {}, body: envelope(Buffer.from([0xff, 0xff, 0xff])) },
      { name: "not gzip", headers: { "connect-content-encoding": "gzip" }, body: envelope(Buffer.from("not gzip at all"), 1) },
      { name: "truncated gzip", headers: { "connect-content-encoding": "gzip" }, body: envelope(gzipSync(Buffer.alloc(100)).subarray(0, 12), 1) },
      { name: "compressed without an encoding", headers: {}, body: envelope(gzipSync(Buffer.alloc(100)), 1) },
    ];
    for (const { name, headers, body } of cases) {
      const response = await http1Request(portOf(stack), {
        method: "POST",
        path: watchPath,
        headers: { "content-type": "application/connect+proto", ...headers },
        body,
      });
      expect(response.status, name).toBe(200);
      const error = endStreamError(response.body);
      expect(error.code, name).toBe("invalid_argument");
      expect(reasonsOfConnectJson(error), name).toEqual(["MALFORMED_REQUEST"]);
    }
  });

  it("gRPC-Web and gRPC with an undecodable message: INVALID_ARGUMENT, MALFORMED_REQUEST", async () => {
    const garbage = envelope(Buffer.from([0xff, 0xff, 0xff]));
    const web = await http1Request(portOf(stack), { method: "POST", path: jwksPath, headers: { "content-type": "application/grpc-web+proto" }, body: garbage });
    const webStatus = web.headers["grpc-status"] ?? /grpc-status: ?(\d+)/.exec(web.body.toString("latin1"))?.[1];
    expect(webStatus).toBe("3");
    const webDetails = web.headers["grpc-status-details-bin"] ?? /grpc-status-details-bin: ?(\S+)/.exec(web.body.toString("latin1"))?.[1];
    expect(reasonsOfDetailsBin(webDetails)).toEqual(["MALFORMED_REQUEST"]);

    const grpc = await rawGrpcCall(stack.url, jwksPath, garbage);
    expect(grpcStatusOf(grpc)).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(reasonsOfDetailsBin(grpc.headers["grpc-status-details-bin"] ?? grpc.trailers?.["grpc-status-details-bin"])).toEqual(["MALFORMED_REQUEST"]);
  });

  it("gRPC with a compressed message that does not inflate: INVALID_ARGUMENT, and an unknown grpc-encoding: UNIMPLEMENTED", async () => {
    const broken = await rawGrpcCall(stack.url, jwksPath, envelope(Buffer.from("not gzip at all"), 1), { "grpc-encoding": "gzip" });
    expect(grpcStatusOf(broken)).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(reasonsOfDetailsBin(broken.headers["grpc-status-details-bin"])).toEqual(["MALFORMED_REQUEST"]);

    const unknown = await rawGrpcCall(stack.url, jwksPath, envelope(Buffer.from("x"), 1), { "grpc-encoding": "snappy" });
    expect(grpcStatusOf(unknown)).toBe(grpcStatus.UNIMPLEMENTED);
    expect(unknown.headers["grpc-accept-encoding"]).toBe("identity,gzip,deflate");
    expect(reasonsOfDetailsBin(unknown.headers["grpc-status-details-bin"])).toEqual(["UNSUPPORTED_ENCODING"]);
  });

  it("REST with a body that is not JSON, or does not inflate: 400 google.rpc.Status with MALFORMED_REQUEST and the field", async () => {
    for (const [headers, body] of [
      [{}, "{not json"],
      [{ "content-encoding": "gzip" }, Buffer.from("not gzip at all")],
    ] as const) {
      const response = await http1Request(portOf(stack), {
        method: "POST",
        path: "/v1/auth:login",
        headers: { "content-type": "application/json", ...headers },
        body,
      });
      expect(response.status).toBe(400);
      const status = JSON.parse(response.body.toString("utf8"));
      expect(status.code).toBe(3);
      expect(status.details).toContainEqual(expect.objectContaining({ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "MALFORMED_REQUEST", domain: "launchpad.dev" }));
    }
  });
});

/** 1 MiB of gzip that inflates to 1 GiB of zeros, the attack's body. */
async function gzipBomb(): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on("data", (chunk: Buffer) => out.push(chunk));
  const zeros = Buffer.alloc(mib);
  for (let i = 0; i < 1024; i++) if (!gzip.write(zeros)) await once(gzip, "drain");
  gzip.end();
  await once(gzip, "end");
  return Buffer.concat(out);
}

/** The gRPC code of a Connect error code name. */
const codeOfConnect = (name: string) => grpcStatus[name.toUpperCase() as keyof typeof grpcStatus] as number;

/** Resident and peak resident memory (bytes) of a process, from /proc. */
/** Resets the process's peak RSS (VmHWM) to its current RSS, so the next peak is this measurement's own. */
function resetPeakMemory(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

describe("finding 3: compressed bodies are inflated within the body limit on every path", () => {
  let services: TestStack;
  let bomb: Buffer;
  beforeAll(async () => {
    [services, bomb] = await Promise.all([startTestStack(), gzipBomb()]);
  }, 60_000);
  afterAll(async () => {
    await killLaunchpads();
    await services.stop();
  });

  it("a 1 MiB gzip bomb without credentials is refused on Connect, Connect streams, gRPC-Web, gRPC and REST; the edge's memory stays within a few times the limit and other calls are served meanwhile", async () => {
    expect(bomb.length).toBeLessThan(1.1 * mib);
    // The edge as its own process, so its memory is its own.
    const edge = runLaunchpad(["--target=edge"], {
      LAUNCHPAD_EDGE_PORT: "0",
      LAUNCHPAD_USERS_ADDRESS: services.users.address,
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: services.deployments.address,
      LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "0",
    });
    const url = (await edge.waitForStdout(/edge\s+(http:\/\/[\d.]+:\d+)/, 30_000))[1]!;
    const port = Number(new URL(url).port);
    const pid = edge.child.pid!;

    /** Each path, sending a gzip body its own way; what came back, as the gRPC code and the ErrorInfo reasons. */
    const paths: { name: string; send(gzipped: Buffer): Promise<{ code: number; reasons: string[] }> }[] = [
      {
        name: "Connect unary",
        async send(gzipped) {
          const response = await http1Request(port, { method: "POST", path: jwksPath, headers: { "content-type": "application/proto", "content-encoding": "gzip" }, body: gzipped });
          const error = JSON.parse(response.body.toString("utf8"));
          if (error.code === "resource_exhausted") expect(response.status).toBe(413);
          return { code: codeOfConnect(error.code), reasons: reasonsOfConnectJson(error) };
        },
      },
      {
        name: "Connect stream",
        async send(gzipped) {
          const response = await http1Request(port, {
            method: "POST",
            path: watchPath,
            headers: { "content-type": "application/connect+proto", "connect-content-encoding": "gzip" },
            body: envelope(gzipped, 1),
          });
          const error = endStreamError(response.body);
          return { code: codeOfConnect(error.code), reasons: reasonsOfConnectJson(error) };
        },
      },
      {
        name: "gRPC-Web",
        async send(gzipped) {
          const response = await http1Request(port, {
            method: "POST",
            path: jwksPath,
            headers: { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip" },
            body: envelope(gzipped, 1),
          });
          const text = response.body.toString("latin1");
          const code = response.headers["grpc-status"] ?? /grpc-status: ?(\d+)/.exec(text)?.[1];
          const details = response.headers["grpc-status-details-bin"] ?? /grpc-status-details-bin: ?(\S+)/.exec(text)?.[1];
          return { code: Number(code), reasons: reasonsOfDetailsBin(details) };
        },
      },
      {
        name: "gRPC",
        async send(gzipped) {
          const raw = await rawGrpcCall(url, jwksPath, envelope(gzipped, 1), { "grpc-encoding": "gzip" });
          return { code: grpcStatusOf(raw), reasons: reasonsOfDetailsBin(raw.headers["grpc-status-details-bin"] ?? raw.trailers?.["grpc-status-details-bin"]) };
        },
      },
      {
        name: "REST",
        async send(gzipped) {
          const response = await http1Request(port, {
            method: "POST",
            path: "/v1/auth:login",
            headers: { "content-type": "application/json", "content-encoding": "gzip" },
            body: gzipped,
          });
          const status = JSON.parse(response.body.toString("utf8"));
          if (status.code === grpcStatus.RESOURCE_EXHAUSTED) expect(response.status).toBe(413);
          return { code: status.code, reasons: (status.details ?? []).map((detail: { reason?: string }) => detail.reason).filter(Boolean) };
        },
      },
    ];

    // Every path first takes a body that inflates to 1 MiB, within the limit (and is refused further on
    // as no valid request); the memory that costs is the baseline.
    const withinLimit = gzipSync(Buffer.alloc(mib, "{"));
    for (const path of paths) expect((await path.send(withinLimit)).code, path.name).not.toBe(grpcStatus.RESOURCE_EXHAUSTED);

    for (const path of paths) {
      resetPeakMemory(pid);
      const before = memoryOf(pid);
      // Another caller, while the bomb is being refused.
      const bystander = (async () => {
        const started = performance.now();
        const health = await http2Request(port, { path: "/healthz" });
        return { status: health.status, ms: performance.now() - started };
      })();
      const answer = await path.send(bomb);
      const served = await bystander;
      const after = memoryOf(pid);
      const grewBy = after.peak - before.rss;
      console.info(`${path.name}: edge RSS ${(before.rss / mib).toFixed(1)} MiB before the bomb, peak ${(after.peak / mib).toFixed(1)} MiB (+${(grewBy / mib).toFixed(1)} MiB)`);

      expect(answer, path.name).toEqual({ code: grpcStatus.RESOURCE_EXHAUSTED, reasons: ["REQUEST_TOO_LARGE"] });
      expect(served.status, path.name).toBe(200);
      expect(served.ms, path.name).toBeLessThan(2_000);
      // Unbounded, the bomb inflated to 1 GiB; bounded, the edge holds the body, at most the limit inflated, and zlib's buffers.
      expect(grewBy, path.name).toBeLessThan(3 * defaultMaxBody);
    }
  }, 90_000);
});

const reflectionPath = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/** A ServerReflectionRequest listing the services, its host field padded with `padding` zero bytes. */
function listServicesRequest(padding: number): Buffer {
  const varint = (n: number) => {
    const bytes: number[] = [];
    for (; n > 127; n >>>= 7) bytes.push((n & 0x7f) | 0x80);
    return Buffer.from([...bytes, n]);
  };
  const host = padding > 0 ? Buffer.concat([Buffer.of(0x0a), varint(padding), Buffer.alloc(padding)]) : Buffer.alloc(0);
  return Buffer.concat([host, Buffer.of(0x3a, 0)]);
}

const compressors = { gzip: (bytes: Buffer) => gzipSync(bytes, { level: 9 }), br: (bytes: Buffer) => brotliCompressSync(bytes) };

/**
 * A Connect bidi stream to reflection through the edge, without credentials,
 * sending `count` copies of `message` compressed with `encoding`; resolves
 * the answer once the edge closes the stream (or after 20 s).
 */
async function connectReflectionStream(url: string, encoding: "gzip" | "br", message: Buffer, count: number) {
  const session = http2.connect(url);
  session.on("error", () => undefined);
  cleanups.push(() => void session.destroy());
  const stream = session.request({
    ":method": "POST",
    ":path": reflectionPath,
    "content-type": "application/connect+proto",
    "connect-protocol-version": "1",
    "connect-content-encoding": encoding,
  });
  stream.on("error", () => undefined);
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  const frame = envelope(compressors[encoding](message), 1);
  let sent = 0;
  void (async () => {
    for (; sent < count && !stream.destroyed && stream.writable; sent++) {
      if (!stream.write(frame)) await Promise.race([once(stream, "drain"), once(stream, "close")]);
    }
    if (!stream.destroyed) stream.end();
  })().catch(() => undefined);
  const [headers] = (await once(stream, "response")) as [IncomingHttpHeaders];
  await Promise.race([once(stream, "close"), new Promise((resolve) => setTimeout(resolve, 20_000))]);
  return { status: Number(headers[":status"]), body: Buffer.concat(chunks), sent, wire: frame.length };
}

/** The messages of a Connect stream's body, its end-stream message aside. */
function messageCount(body: Buffer): number {
  let count = 0;
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) if ((body[at]! & 0b10) === 0) count++;
  return count;
}

/** /healthz answers within 2 s. */
async function expectHealthy(url: string): Promise<void> {
  const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
  expect(health.status).toBe(200);
}

describe("a Connect stream's messages together are held to the body limit", () => {
  let stack: TestEdgeStack;
  beforeAll(async () => {
    stack = await startTestEdgeStack({ edge: { LAUNCHPAD_EDGE_MAX_BODY: String(mib) } });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it.each(["gzip", "br"] as const)("reflection: 300 %s messages just under 1 MiB each are refused at the first (a reflection request may hold 64 KiB), REQUEST_TOO_LARGE", async (encoding) => {
    const answer = await connectReflectionStream(stack.url, encoding, listServicesRequest(mib - 64), 300);
    expect(answer.status).toBe(200);
    const error = endStreamError(answer.body);
    expect(error.code).toBe("resource_exhausted");
    expect(reasonsOfConnectJson(error)).toEqual(["REQUEST_TOO_LARGE"]);
    await expectHealthy(stack.url);
  });

  it.each(["gzip", "br"] as const)("reflection: 300 %s messages of 50 KiB each are refused once they pass 1 MiB together", async (encoding) => {
    const padding = 50 * 1024;
    const answer = await connectReflectionStream(stack.url, encoding, listServicesRequest(padding), 300);
    const error = endStreamError(answer.body);
    expect(error.code).toBe("resource_exhausted");
    expect(reasonsOfConnectJson(error)).toEqual(["REQUEST_TOO_LARGE"]);
    await expectHealthy(stack.url);

    // As many as fit within the limit are all answered.
    const within = Math.floor(mib / (padding + 8));
    const answered = await connectReflectionStream(stack.url, encoding, listServicesRequest(padding), within);
    expect(endStreamError(answered.body)).toBeUndefined();
    expect(messageCount(answered.body)).toBe(within);
  });

  it("a normal Connect reflection call still lists the services", async () => {
    const answer = await connectReflectionStream(stack.url, "gzip", listServicesRequest(0), 1);
    expect(answer.status).toBe(200);
    const text = answer.body.toString("latin1");
    expect(text).toContain("launchpad.user.v1.UserService");
    expect(text).toContain("launchpad.deployment.v1.DeploymentService");
    expect(endStreamError(answer.body)).toBeUndefined();
  });
});
