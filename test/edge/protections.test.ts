import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttp1Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, cors, createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { connectHandlerOptions } from "../../edge/connect-routes.js";
import { createEdgeHttpServer, type EdgeHandler, type EdgeRequest } from "../../edge/http-server.js";
import { sendRefusal } from "../../edge/protections/limits.js";
import { readBody } from "../../edge/protocol/request-body.js";
import { bearerCredential, clientAddressOf } from "../../edge/protections/caller.js";
import {
  createProtections,
  maxHeaderBytes,
  protectionSettings,
  type ProtectionConfig,
  type ProtectionDeps,
} from "../../edge/protections/index.js";
import { contentSecurityPolicy, isTls, setSecurityHeaders } from "../../edge/protections/security-headers.js";
import { compileBindings } from "../../edge/rest/bindings.js";
import { createClassifier } from "../../edge/routing/classify.js";
import { createUpstream } from "../../edge/upstream/forward.js";
import { createSessionPool } from "../../edge/upstream/http2-sessions.js";
import type { CredentialVerifier, Principal } from "../../services/kit/auth/principal.js";
import { loadConfig } from "../../services/kit/config.js";
import { capturedLogger } from "../support/captured-logger.js";
import { startTestEdgeStack } from "../support/edge-stack.js";
import { http1Request, http2Request, type RawResponse } from "../support/raw-http.js";

const allowedOrigin = "https://console.example.com";
const getUserPath = "/launchpad.user.v1.UserService/GetUser";
const maxBodyBytes = 1024;
const oversizedName = "users/" + "x".repeat(2 * maxBodyBytes);

/** The edge's routing decision over UserService and its REST rules; no call goes upstream here. */
const classify = createClassifier({
  services: [{ service: UserService, upstream: createUpstream("127.0.0.1:1", createSessionPool(), () => undefined) }],
  bindings: compileBindings([UserService]),
  endpoints: new Set(["/healthz", "/.well-known/jwks.json", "/docs"]),
  isConsoleFile: () => false,
});

const baseConfig: ProtectionConfig = {
  corsOrigins: [allowedOrigin],
  maxBodyBytes,
  rateLimit: 1000,
  rateLimitAnonymous: 1000,
  redisUrl: "",
};

/** A wrapped test server: connect-node serving UserService.GetUser/StreamUsers, and REST-like paths that read the body. */
interface Protected {
  port: number;
  url: string;
  registry: Registry;
  logs: string[];
  /** Paths of the requests the wrapped handler saw. */
  reached: string[];
  /** What ran to completion: RPC names, "METHOD /path (n bytes)" for the rest. */
  served: string[];
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function startProtected(
  config: Partial<ProtectionConfig> = {},
  deps: Partial<ProtectionDeps> = {},
  tls?: { cert: Buffer; key: Buffer },
): Promise<Protected> {
  const registry = new Registry();
  const { logger, lines: logs } = capturedLogger("edge");
  const protections = createProtections({ ...baseConfig, ...config }, { registry, logger, classify, ...deps });
  const reached: string[] = [];
  const served: string[] = [];
  const connect = connectNodeAdapter({
    // As the edge's own connect-node: request messages held to the body limit while they arrive.
    ...connectHandlerOptions(maxBodyBytes),
    routes: (router) =>
      router.service(UserService, {
        getUser(request) {
          served.push("GetUser");
          return { user: { name: request.name } };
        },
        async *streamUsers() {
          served.push("StreamUsers");
          yield { user: { name: "users/a" } };
        },
      }),
    // REST-like paths read their body as the edge's REST handler does.
    fallback(req, res) {
      readBody(req, maxBodyBytes).then((body) => {
        const bytes = body.length;
        served.push(`${req.method} ${req.url} (${bytes} bytes)`);
        const path = (req.url ?? "").split("?")[0]!;
        if (path === "/docs") {
          res.writeHead(200, { "content-type": "text/html" });
          res.end("<!doctype html><title>docs</title>");
        } else if (path === "/healthz" || path.startsWith("/v1/")) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ bytes, requestId: req.headers["x-request-id"] }));
        } else {
          res.writeHead(404, { "content-type": "text/plain" });
          res.end("not found\n");
        }
      }, (error: unknown) => sendRefusal(req, res, "rest", ConnectError.from(error)));
    },
  });
  const handler: EdgeHandler = (req, res) => {
    reached.push(req.url ?? "");
    connect(req, res);
  };
  const server = createEdgeHttpServer(protections.wrap(handler), tls);
  const port = await listen(server);
  stops.push(async () => {
    await closeServer(server);
    await protections.close();
  });
  return { port, url: `http://127.0.0.1:${port}`, registry, logs, reached, served };
}

async function listen(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  (server as Server & { sockets?: Set<Socket> }).sockets = sockets;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  for (const socket of (server as Server & { sockets?: Set<Socket> }).sockets ?? []) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

const usersOver = (transport: Transport) => createClient(UserService, transport);
const connectTransport = (url: string) => createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
const grpcTransport = (url: string) => createGrpcTransport({ baseUrl: url });
const grpcWebTransport = (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" });

async function failureOf(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("the call succeeded");
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream);
}

/** An unsigned JWT naming `sub`: a forgery, which must never name a principal's budget. */
function jwtFor(sub: string): string {
  const part = (json: unknown) => Buffer.from(JSON.stringify(json)).toString("base64url");
  return `${part({ alg: "ES256", typ: "JWT" })}.${part({ sub, exp: 4102444800 })}.c2lnbmF0dXJl`;
}

/** A token the test verifier accepts as `user`'s. */
const signedTokenOf = (user: string) => `signed:${user}`;

/** A credential verifier that accepts signedTokenOf tokens and the given API keys, and counts API key lookups. */
function testVerifier(apiKeys: Record<string, string> = {}) {
  const principal = (user: string, credential: Principal["credential"]): Principal => ({
    user,
    email: `${user.slice(6)}@example.com`,
    kind: 1,
    role: 1,
    environments: [],
    credential,
    sessionId: "",
  });
  const verifier = {
    apiKeyLookups: 0,
    async verifyAccessToken(token: string) {
      if (!token.startsWith("signed:")) throw new Error("the access token is not valid");
      return principal(token.slice("signed:".length), "access-token");
    },
    async verifyApiKey(key: string) {
      verifier.apiKeyLookups++;
      const user = apiKeys[key];
      if (user === undefined) throw new Error("the API key is not valid");
      return principal(user, "api-key");
    },
  } satisfies CredentialVerifier & { apiKeyLookups: number };
  return verifier;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = (response: RawResponse) => JSON.parse(response.body.toString("utf8")) as Record<string, unknown>;
const corsHeaderNames = (response: RawResponse) => Object.keys(response.headers).filter((name) => name.startsWith("access-control-"));

describe("CORS", () => {
  it("answers a preflight from an allowed origin with 204 and every header Connect, gRPC-Web and REST calls need", async () => {
    const edge = await startProtected();
    const response = await http1Request(edge.port, {
      method: "OPTIONS",
      path: getUserPath,
      headers: { origin: allowedOrigin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,authorization" },
    });

    expect(response.status).toBe(204);
    expect(response.headers["access-control-allow-origin"]).toBe(allowedOrigin);
    const methods = String(response.headers["access-control-allow-methods"]).split(", ");
    expect(methods).toEqual(expect.arrayContaining([...cors.allowedMethods, "PATCH", "DELETE"]));
    const headers = String(response.headers["access-control-allow-headers"]).toLowerCase().split(", ");
    for (const name of [...cors.allowedHeaders, "Authorization", "X-Request-Id", "Last-Event-ID", "X-Timeout-Ms"]) {
      expect(headers).toContain(name.toLowerCase());
    }
    expect(response.headers["access-control-max-age"]).toBe("7200");
    expect(response.headers.vary).toMatch(/\bOrigin\b/);
    expect(edge.reached).toEqual([]);
  });

  it("refuses a preflight from any other origin with 403 and no CORS header", async () => {
    const edge = await startProtected();
    const response = await http1Request(edge.port, {
      method: "OPTIONS",
      path: getUserPath,
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });

    expect(response.status).toBe(403);
    expect(corsHeaderNames(response)).toEqual([]);
    expect(edge.reached).toEqual([]);
  });

  it("gives an allowed origin's calls Allow-Origin and the exposed headers, and other origins nothing", async () => {
    const edge = await startProtected();
    const allowed = await http1Request(edge.port, { path: "/healthz", headers: { origin: allowedOrigin } });
    const refused = await http1Request(edge.port, { path: "/healthz", headers: { origin: "https://evil.example.com" } });

    expect(allowed.headers["access-control-allow-origin"]).toBe(allowedOrigin);
    const exposed = String(allowed.headers["access-control-expose-headers"]).toLowerCase().split(", ");
    expect(exposed).toEqual(expect.arrayContaining(["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after", "x-request-id"]));
    expect(refused.status).toBe(200);
    expect(corsHeaderNames(refused)).toEqual([]);
    expect(allowed.headers.vary).toBe("Origin");
    expect(refused.headers.vary).toBe("Origin");
  });

  it("with no origin configured, refuses every preflight", async () => {
    const edge = await startProtected({ corsOrigins: [] });
    const response = await http1Request(edge.port, {
      method: "OPTIONS",
      path: "/v1/users",
      headers: { origin: allowedOrigin, "access-control-request-method": "GET" },
    });
    expect(response.status).toBe(403);
    expect(corsHeaderNames(response)).toEqual([]);
  });

  it("reads LAUNCHPAD_CORS_ORIGINS as exact origins and refuses wildcards and paths", () => {
    const load = (value: string) => loadConfig(protectionSettings, { env: { LAUNCHPAD_CORS_ORIGINS: value }, argv: [] }).corsOrigins;
    expect(load("")).toEqual([]);
    expect(load("https://Console.Example.com/, http://localhost:5173")).toEqual(["https://console.example.com", "http://localhost:5173"]);
    for (const bad of ["*", "https://a.example.com/app", "a.example.com", "ftp://a.example.com", "https://*.example.com"]) {
      expect(() => load(bad), bad).toThrow(/LAUNCHPAD_CORS_ORIGINS/);
    }
  });
});

describe("security headers", () => {
  const expectSecurityHeaders = (response: RawResponse) => {
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["x-frame-options"]).toBe("DENY");
    expect(response.headers["referrer-policy"]).toBe("no-referrer");
    expect(response.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(response.headers["strict-transport-security"]).toBeUndefined();
  };

  it("are on every answer over cleartext, the handler's and the edge's own refusals alike, without HSTS", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 1 });
    const answers = [
      await http1Request(edge.port, { path: "/v1/users" }), // 200 from the handler
      await http1Request(edge.port, { path: "/v1/users" }), // 429 from the edge
      await http1Request(edge.port, { path: "/nope" }), // 429 too: the budget is spent
      await http1Request(edge.port, { method: "POST", path: "/v1/users", body: "x".repeat(maxBodyBytes + 1) }), // 413
      await http1Request(edge.port, { method: "OPTIONS", path: "/v1/users", headers: { origin: "https://evil.example.com", "access-control-request-method": "GET" } }),
      await http2Request(edge.port, { path: "/healthz" }),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 429, 429, 413, 403, 200]);
    answers.forEach(expectSecurityHeaders);
  });

  it("keep a strict Content-Security-Policy: no inline script anywhere, inline styles only for swagger-ui under /docs", async () => {
    const edge = await startProtected();
    const api = await http1Request(edge.port, { path: "/v1/users" });
    const docs = await http1Request(edge.port, { path: "/docs" });

    expect(api.headers["content-security-policy"]).toBe(contentSecurityPolicy);
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
      expect(contentSecurityPolicy.split("; ")).toContain(directive);
    }
    expect(contentSecurityPolicy).not.toContain("unsafe");
    expect(docs.headers["content-security-policy"]).toContain("style-src 'self' 'unsafe-inline'");
    expect(docs.headers["content-security-policy"]).toContain("script-src 'self';");
  });

  it("add HSTS only to requests that came over TLS", () => {
    const headersFor = (encrypted: boolean) => {
      const set: Record<string, string> = {};
      const req = { socket: encrypted ? { encrypted: true } : {} } as unknown as EdgeRequest;
      setSecurityHeaders(req, { setHeader: (name: string, value: string) => (set[name] = value) } as never, "/v1/users");
      return set;
    };
    expect(isTls({ socket: { encrypted: true } } as unknown as EdgeRequest)).toBe(true);
    expect(headersFor(true)["strict-transport-security"]).toBe("max-age=31536000");
    expect(headersFor(false)["strict-transport-security"]).toBeUndefined();
  });

  it("send HSTS over a real TLS connection (self-signed certificate made for the test)", async (context) => {
    const dir = mkdtempSync(join(tmpdir(), "edge-tls-"));
    let tls: { cert: Buffer; key: Buffer };
    try {
      execFileSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
          "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")],
        { stdio: "ignore" },
      );
      tls = { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) };
    } catch {
      return context.skip("openssl is not installed; the unit test above covers the decision");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const edge = await startProtected({}, {}, tls);
    const response = await http1Request(edge.port, { path: "/healthz" }, true);
    expect(response.status).toBe(200);
    expect(response.headers["strict-transport-security"]).toBe("max-age=31536000");
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
  });
});

describe("request size limits", () => {
  it("REST: a body declared larger than the limit gets 413 as google.rpc.Status before the handler runs", async () => {
    const edge = await startProtected();
    const response = await http1Request(edge.port, {
      method: "POST",
      path: "/v1/users",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ displayName: "x".repeat(maxBodyBytes) }),
    });

    expect(response.status).toBe(413);
    expect(json(response)).toEqual({
      code: 8,
      message: `request body exceeds ${maxBodyBytes} bytes`,
      details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "REQUEST_TOO_LARGE", domain: "launchpad.dev" }],
    });
    expect(response.headers.connection).toBe("close");
    expect(edge.reached).toEqual([]);
  });

  it("REST: a chunked body is cut off with 413 once it passes the limit, and the handler never gets it whole", async () => {
    const edge = await startProtected();
    const chunk = Buffer.alloc(600, "x");
    const response = await http1Request(edge.port, { method: "POST", path: "/v1/users", headers: { "content-type": "application/json" }, chunks: [chunk, chunk, chunk, chunk] });

    expect(response.status).toBe(413);
    expect(json(response).code).toBe(8);
    expect(edge.served).toEqual([]);
  });

  it("REST over HTTP/2: a streamed body over the limit gets 413 and the stream is closed", async () => {
    const edge = await startProtected();
    const chunk = Buffer.alloc(600, "x");
    const response = await http2Request(edge.port, { method: "POST", path: "/v1/users", headers: { "content-type": "application/json" }, chunks: [chunk, chunk, chunk, chunk] });

    expect(response.status).toBe(413);
    expect(json(response).code).toBe(8);
    expect(edge.served).toEqual([]);
  });

  it("Connect: HTTP 413 with a Connect error, which clients read as resource_exhausted", async () => {
    const edge = await startProtected();
    const raw = await http1Request(edge.port, {
      method: "POST",
      path: getUserPath,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: oversizedName }),
    });
    expect(raw.status).toBe(413);
    expect(json(raw)).toMatchObject({
      code: "resource_exhausted",
      message: `request body exceeds ${maxBodyBytes} bytes`,
      details: [{ type: "google.rpc.ErrorInfo", debug: { reason: "REQUEST_TOO_LARGE", domain: "launchpad.dev" } }],
    });

    const error = await failureOf(usersOver(connectTransport(edge.url)).getUser({ name: oversizedName }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(edge.served).toEqual([]);
  });

  it("gRPC: RESOURCE_EXHAUSTED in a trailers-only answer, for a declared or a streamed body", async () => {
    const edge = await startProtected();
    const message = Buffer.alloc(maxBodyBytes + 100);
    const raw = await http2Request(edge.port, {
      method: "POST",
      path: getUserPath,
      headers: { "content-type": "application/grpc", te: "trailers" },
      body: message,
    });
    expect(raw.status).toBe(200);
    expect(raw.headers["grpc-status"]).toBe("8");
    expect(raw.headers["content-type"]).toBe("application/grpc");

    const error = await failureOf(usersOver(grpcTransport(edge.url)).getUser({ name: oversizedName }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(edge.served).toEqual([]);
  });

  it("gRPC-Web: RESOURCE_EXHAUSTED", async () => {
    const edge = await startProtected();
    const error = await failureOf(usersOver(grpcWebTransport(edge.url)).getUser({ name: oversizedName }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(edge.served).toEqual([]);
  });

  it("bodies within the limit pass, on every protocol", async () => {
    const edge = await startProtected();
    const name = "users/" + "x".repeat(maxBodyBytes - 100);
    for (const transport of [connectTransport(edge.url), grpcTransport(edge.url), grpcWebTransport(edge.url)]) {
      expect((await usersOver(transport).getUser({ name })).user?.name).toBe(name);
    }
    const rest = await http1Request(edge.port, { method: "POST", path: "/v1/users", body: "x".repeat(maxBodyBytes) });
    expect(rest.status).toBe(200);
    expect(json(rest).bytes).toBe(maxBodyBytes);
  });

  it("maxHeaderBytes is 16 KiB, and Node answers 431 above it before any handler runs", async () => {
    expect(maxHeaderBytes).toBe(16 * 1024);
    const { logger } = capturedLogger("edge");
    const protections = createProtections(baseConfig, { registry: new Registry(), logger, classify });
    const reached: string[] = [];
    const server = createHttp1Server({ maxHeaderSize: maxHeaderBytes }, protections.wrap((req, res) => {
      reached.push(req.url ?? "");
      res.end();
    }));
    const port = await listen(server as unknown as Server);
    stops.push(async () => {
      await closeServer(server as unknown as Server);
      await protections.close();
    });

    const small = await http1Request(port, { path: "/v1/users", headers: { "x-filler": "x".repeat(maxHeaderBytes / 2) } });
    const large = await http1Request(port, { path: "/v1/users", headers: { "x-filler": "x".repeat(maxHeaderBytes + 1) } });
    expect(small.status).toBe(200);
    expect(large.status).toBe(431);
    expect(reached).toEqual(["/v1/users"]);
  });
});

describe("rate limits", () => {
  it("REST: 429 with Retry-After and google.rpc.Status once an anonymous address has spent its budget", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 2 });
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await http1Request(edge.port, { path: "/v1/users" })).status);
    const refused = await http1Request(edge.port, { path: "/v1/users" });

    expect(statuses).toEqual([200, 200]);
    expect(refused.status).toBe(429);
    // 2 a minute: the next call is allowed 30 s after the burst.
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(29);
    expect(Number(refused.headers["retry-after"])).toBeLessThanOrEqual(30);
    expect(json(refused)).toMatchObject({ code: 8, message: expect.stringContaining("rate limit") });
    expect(edge.reached).toHaveLength(2);
  });

  it("Connect: HTTP 429 with resource_exhausted and Retry-After, for unary calls and streams", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 1 });
    const users = usersOver(connectTransport(edge.url));
    await users.getUser({ name: "users/a" });

    const raw = await http1Request(edge.port, { method: "POST", path: getUserPath, headers: { "content-type": "application/json" }, body: "{}" });
    expect(raw.status).toBe(429);
    expect(Number(raw.headers["retry-after"])).toBeGreaterThan(0);
    expect(json(raw)).toMatchObject({ code: "resource_exhausted" });

    const unary = await failureOf(users.getUser({ name: "users/a" }));
    expect(unary.code).toBe(Code.ResourceExhausted);
    expect(Number(unary.metadata.get("retry-after"))).toBeGreaterThan(0);

    const stream = await failureOf(drain(users.streamUsers({})));
    expect(stream.code).toBe(Code.ResourceExhausted);
    expect(Number(stream.metadata.get("retry-after"))).toBeGreaterThan(0);
    expect(edge.served).toEqual(["GetUser"]);
  });

  it("gRPC and gRPC-Web: RESOURCE_EXHAUSTED with a retry-after header", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 1 });
    await usersOver(grpcTransport(edge.url)).getUser({ name: "users/a" });

    for (const transport of [grpcTransport(edge.url), grpcWebTransport(edge.url)]) {
      const error = await failureOf(usersOver(transport).getUser({ name: "users/a" }));
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(Number(error.metadata.get("retry-after"))).toBeGreaterThan(0);
    }
    const raw = await http2Request(edge.port, { method: "POST", path: getUserPath, headers: { "content-type": "application/grpc+proto", te: "trailers" }, body: Buffer.alloc(5) });
    expect(raw.status).toBe(200);
    expect(raw.headers["grpc-status"]).toBe("8");
    expect(raw.headers["content-type"]).toBe("application/grpc+proto");
    expect(edge.served).toEqual(["GetUser"]);
  });

  it("keeps separate budgets per verified principal and for anonymous calls from the same address", async () => {
    const edge = await startProtected({ rateLimit: 2, rateLimitAnonymous: 2 }, { verifier: testVerifier() });
    const status = async (headers: Record<string, string> = {}) => (await http1Request(edge.port, { path: "/v1/users", headers })).status;
    const alice = bearer(signedTokenOf("users/alice"));
    const bob = bearer(signedTokenOf("users/bob"));

    expect([await status(alice), await status(alice), await status(alice)]).toEqual([200, 200, 429]);
    expect([await status(), await status(), await status()]).toEqual([200, 200, 429]);
    expect(await status(bob)).toBe(200);
    // Credentials that do not verify count as anonymous, whatever they claim.
    expect(await status(bearer(jwtFor("users/bob")))).toBe(429);
    expect(await status(bearer("not-a-token"))).toBe(429);
  });

  it("charges forged tokens naming a real user to the client address, never to that user", async () => {
    const edge = await startProtected({ rateLimit: 2, rateLimitAnonymous: 2 }, { verifier: testVerifier() });
    const status = async (headers: Record<string, string>) => (await http1Request(edge.port, { path: "/v1/users", headers })).status;
    const forged = bearer(jwtFor("users/alice"));

    expect([await status(forged), await status(forged), await status(forged)]).toEqual([200, 200, 429]);
    const alice = bearer(signedTokenOf("users/alice"));
    expect([await status(alice), await status(alice)]).toEqual([200, 200]);
  });

  it("without a verifier, every call is anonymous", async () => {
    const edge = await startProtected({ rateLimit: 100, rateLimitAnonymous: 1 });
    const status = async (headers: Record<string, string>) => (await http1Request(edge.port, { path: "/v1/users", headers })).status;
    expect([await status(bearer(signedTokenOf("users/alice"))), await status(bearer(signedTokenOf("users/bob")))]).toEqual([200, 429]);
  });

  it("looks an unknown API key up only while the address's anonymous budget allows the call, then charges its principal", async () => {
    const key = `lpk_0123456789abcdef_${"k".repeat(43)}`;
    const verifier = testVerifier({ [key]: "users/ci" });
    const edge = await startProtected({ rateLimit: 2, rateLimitAnonymous: 1 }, { verifier });
    const status = async (headers: Record<string, string>) => (await http1Request(edge.port, { path: "/v1/users", headers })).status;

    // Its first call is charged as anonymous, and the key looked up meanwhile.
    expect(await status(bearer(key))).toBe(200);
    await expect.poll(() => verifier.apiKeyLookups).toBe(1);
    // Unknown keys from the same address are refused without a lookup: the anonymous budget is spent.
    for (let i = 0; i < 5; i++) expect(await status(bearer(`lpk_${i}123456789abcdef_${"x".repeat(43)}`))).toBe(429);
    expect(verifier.apiKeyLookups).toBe(1);
    // The known key draws on its principal's budget.
    expect([await status(bearer(key)), await status(bearer(key)), await status(bearer(key))]).toEqual([200, 200, 429]);
  });

  it("bounds a principal-rich client with the per-address ceiling", async () => {
    const edge = await startProtected({ rateLimit: 100, rateLimitAddress: 3 }, { verifier: testVerifier() });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await http1Request(edge.port, { path: "/v1/users", headers: bearer(signedTokenOf(`users/u${i}`)) })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("never limits /healthz, /readyz and /metrics", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 1 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await http1Request(edge.port, { path: "/healthz" })).status);
    expect(statuses).toEqual([200, 200, 200]);
  });

  it("reads bearer credentials as API keys (lpk_…) or access tokens, and keys addresses (IPv6 by /64)", () => {
    const key = `lpk_0123456789abcdef_${"k".repeat(43)}`;
    expect(bearerCredential(`Bearer ${key}`)).toEqual({ kind: "api-key", secret: key });
    expect(bearerCredential("bearer a.b.c")).toEqual({ kind: "access-token", secret: "a.b.c" });
    expect(bearerCredential("Basic dXNlcjpwYXNz")).toBeUndefined();
    expect(bearerCredential(`Bearer ${"a".repeat(9000)}`)).toBeUndefined();
    expect(bearerCredential(undefined)).toBeUndefined();
    const at = (remoteAddress: string) => clientAddressOf({ socket: { remoteAddress } } as unknown as EdgeRequest);
    expect(at("::ffff:10.0.0.7")).toBe("10.0.0.7");
    expect(at("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(at("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(at("::1")).toBe("0:0:0:0::/64");
  });
});

/** Whether Redis answers on 127.0.0.1:6379. */
async function redisAnswers(): Promise<boolean> {
  const redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const redisUrl = "redis://127.0.0.1:6379";
const redisReachable = await redisAnswers();

describe("rate limits in Redis", () => {
  it("two edges sharing one Redis share one budget", async (context) => {
    if (!redisReachable) {
      if (process.env.CI) throw new Error(`Redis is unreachable at ${redisUrl}, and CI is set`);
      return context.skip(`Redis is unreachable at ${redisUrl}`);
    }
    const prefix = `launchpad-test:${randomUUID()}:`;
    const config = { redisUrl, rateLimitKeyPrefix: prefix, rateLimitAnonymous: 3 };
    const [a, b] = [await startProtected(config), await startProtected(config)];
    const status = async (edge: Protected) => (await http1Request(edge.port, { path: "/v1/users" })).status;

    expect([await status(a), await status(b), await status(a)]).toEqual([200, 200, 200]);
    expect([await status(b), await status(a)]).toEqual([429, 429]);

    const redis = new Redis(redisUrl);
    try {
      // The anonymous budget's key lives until the budget is whole again (the ceiling's, 10× larger, may be gone already).
      const keys = await redis.keys(`${prefix}*`);
      expect(keys).toContain(`${prefix}a:127.0.0.1`);
      expect(await redis.pttl(`${prefix}a:127.0.0.1`)).toBeGreaterThan(0);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it("fails open when Redis is unreachable: requests go through and one warning says limits are off", async () => {
    const closed = createTcpServer();
    const port = await listen(closed);
    await closeServer(closed);
    const edge = await startProtected({ redisUrl: `redis://127.0.0.1:${port}`, rateLimitAnonymous: 1 });

    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await http1Request(edge.port, { path: "/v1/users" })).status);
    expect(statuses).toEqual([200, 200, 200]);
    const warnings = edge.logs.map((line) => JSON.parse(line)).filter((line) => line.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toMatch(/rate limits not enforced/);
  });

  it("never waits on a Redis that stops answering longer than the command timeout", async () => {
    // Answers the connection's readiness check, then nothing.
    const stalled = createTcpServer((socket) => {
      socket.on("data", (data) => {
        if (/info/i.test(data.toString())) {
          const info = "# Server\r\nredis_version:7.0.0\r\nloading:0\r\n";
          socket.write(`$${info.length}\r\n${info}\r\n`);
        }
      });
    });
    const port = await listen(stalled);
    stops.push(() => closeServer(stalled));
    const edge = await startProtected({ redisUrl: `redis://127.0.0.1:${port}`, rateLimitAnonymous: 1 });
    await new Promise((resolve) => setTimeout(resolve, 200)); // connected and "ready"

    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      expect((await http1Request(edge.port, { path: "/v1/users" })).status).toBe(200);
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(edge.logs.some((line) => /rate limits not enforced/.test(line))).toBe(true);
  });
});

describe("metrics and request logs", () => {
  async function labelSets(registry: Registry, name: string) {
    const metric = registry.getSingleMetric(name)!;
    return (await metric.get()).values.filter((value) => !("metricName" in value) || value.metricName === `${name}_count`).map((value) => value.labels);
  }

  it("count requests by route, method, status and protocol, with ids kept out of routes", async () => {
    const edge = await startProtected({ rateLimitAnonymous: 6 });
    await usersOver(connectTransport(edge.url)).getUser({ name: "users/a" });
    await usersOver(grpcTransport(edge.url)).getUser({ name: "users/a" });
    await usersOver(grpcWebTransport(edge.url)).getUser({ name: "users/a" });
    await http1Request(edge.port, { path: "/v1/users/123?view=full" });
    await http1Request(edge.port, { path: "/healthz" });
    await http1Request(edge.port, { path: "/.well-known/jwks.json" }); // 404 here, but a fixed endpoint
    await http1Request(edge.port, { path: "/no/such/thing/42" });
    await http1Request(edge.port, { method: "POST", path: "/v1/users", body: "x".repeat(maxBodyBytes + 1) });
    await http1Request(edge.port, { path: "/v1/users/456" }); // the 7th limited call: 429
    await new Promise((resolve) => setImmediate(resolve));

    const requests = await labelSets(edge.registry, "http_requests_total");
    expect(requests).toEqual(
      expect.arrayContaining([
        { route: getUserPath, method: "POST", status: "200", protocol: "connect" },
        { route: getUserPath, method: "POST", status: "200", protocol: "grpc" },
        { route: getUserPath, method: "POST", status: "200", protocol: "grpc-web" },
        { route: "/launchpad.user.v1.UserService/GetUser", method: "GET", status: "200", protocol: "rest" },
        { route: "/healthz", method: "GET", status: "200", protocol: "http" },
        { route: "/.well-known/jwks.json", method: "GET", status: "404", protocol: "http" },
        { route: "other", method: "GET", status: "404", protocol: "http" },
        { route: "/launchpad.user.v1.UserService/CreateUser", method: "POST", status: "413", protocol: "rest" },
        { route: "/launchpad.user.v1.UserService/GetUser", method: "GET", status: "429", protocol: "rest" },
      ]),
    );
    expect(requests.map((labels) => labels.route)).not.toContain("/v1/users/123");
    const durations = await labelSets(edge.registry, "http_request_duration_seconds");
    expect(durations).toContainEqual({ route: getUserPath, method: "POST", protocol: "grpc" });
    expect(durations.every((labels) => !("status" in labels))).toBe(true);
  });

  it("count REST requests under the method their http rule calls, and paths no rule serves as \"other\"", async () => {
    const edge = await startProtected();
    await http1Request(edge.port, { path: "/v1/users/123" });
    await http1Request(edge.port, { path: "/v1/other" });
    const requests = await labelSets(edge.registry, "http_requests_total");
    expect(requests).toContainEqual({ route: "/launchpad.user.v1.UserService/GetUser", method: "GET", status: "200", protocol: "rest" });
    expect(requests).toContainEqual({ route: "other", method: "GET", status: "200", protocol: "rest" });
  });

  it("write one JSON line per request, and pass the request id on and back", async () => {
    const edge = await startProtected();
    const response = await http1Request(edge.port, { path: "/v1/users/123?secret=s", headers: { "x-request-id": "req-42" } });
    const generated = await http1Request(edge.port, { path: "/v1/users", headers: { "x-request-id": "not ok!" } });

    expect(response.headers["x-request-id"]).toBe("req-42");
    expect(json(response).requestId).toBe("req-42");
    expect(generated.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const lines = edge.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === "request");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: "info", requestId: "req-42", method: "GET", route: "/launchpad.user.v1.UserService/GetUser", status: 200, protocol: "rest", clientAddress: "127.0.0.1" });
    expect(lines[0].durationMs).toBeTypeOf("number");
    expect(lines[1].requestId).toBe(generated.headers["x-request-id"]);
    expect(edge.logs.join("")).not.toContain("secret=s");
  });
});

describe("the real edge", () => {
  it("applies the protections in front of every protocol", async (context) => {
    const stack = await startTestEdgeStack({
      edge: { LAUNCHPAD_CORS_ORIGINS: allowedOrigin, LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "4", LAUNCHPAD_EDGE_MAX_BODY: String(maxBodyBytes) },
    });
    stops.push(() => stack.stop());
    const port = Number(new URL(stack.url).port);
    const health = await http1Request(port, { path: "/healthz" });
    if (health.headers["x-content-type-options"] === undefined) return context.skip("edge/server.ts does not wrap its handler with createProtections yet");

    const preflight = await http1Request(port, {
      method: "OPTIONS",
      path: getUserPath,
      headers: { origin: allowedOrigin, "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(allowedOrigin);

    // The gRPC fast path is cut off too.
    const tooLarge = await failureOf(usersOver(grpcTransport(stack.url)).getUser({ name: oversizedName }));
    expect(tooLarge.code).toBe(Code.ResourceExhausted);

    // Four anonymous calls are allowed (413 and all), then every protocol is refused.
    await failureOf(usersOver(connectTransport(stack.url)).getCurrentUser({})); // unauthenticated, from UserService
    await http1Request(port, { path: "/v1/me" });
    await http1Request(port, { path: "/v1/me" });
    const rest = await http1Request(port, { path: "/v1/me" });
    expect(rest.status).toBe(429);
    expect(Number(rest.headers["retry-after"])).toBeGreaterThan(0);
    expect((await failureOf(usersOver(connectTransport(stack.url)).getCurrentUser({}))).code).toBe(Code.ResourceExhausted);
    expect((await failureOf(usersOver(grpcTransport(stack.url)).getCurrentUser({}))).code).toBe(Code.ResourceExhausted);

    const metrics = (await http1Request(port, { path: "/metrics" })).body.toString();
    expect(metrics).toMatch(/http_requests_total\{[^}]*status="429"[^}]*protocol="rest"/);
    expect(stack.edgeLogs.some((line) => /"msg":"request"/.test(line))).toBe(true);
  });
});
