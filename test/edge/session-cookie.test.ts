import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary, type DescMethod } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LoginRequestSchema,
  LoginResponseSchema,
  RefreshTokenResponseSchema,
  UserService,
  type LogoutRequest,
  type RefreshTokenRequest,
} from "../../gen/launchpad/user/v1/user_service_pb.js";
import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import { capturedLogger } from "../support/captured-logger.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { http1Request, type RawResponse } from "../support/raw-http.js";
import { admin } from "../support/users-service.js";

const allowedOrigin = "https://console.example.com";
const cookieMode = { "launchpad-session": "cookie" };
const loginPath = methodPath(UserService.method.login);
const refreshPath = methodPath(UserService.method.refreshToken);
const logoutPath = methodPath(UserService.method.logout);

/** A Set-Cookie of the refresh cookie, taken apart. */
interface RefreshCookie {
  value: string;
  attributes: string[];
  maxAge: number;
}

function refreshCookieOf(answer: RawResponse): RefreshCookie | undefined {
  const cookies = answer.headers["set-cookie"] ?? [];
  expect(cookies.length).toBeLessThanOrEqual(1);
  if (cookies.length === 0) return undefined;
  const [pair, ...attributes] = cookies[0]!.split("; ");
  expect(pair).toMatch(/^launchpad_refresh=/);
  const maxAge = attributes.find((attribute) => attribute.startsWith("Max-Age="));
  return { value: pair!.slice("launchpad_refresh=".length), attributes, maxAge: Number(maxAge?.slice("Max-Age=".length)) };
}

function expectCleared(answer: RawResponse): void {
  const cookie = refreshCookieOf(answer);
  expect(cookie).toMatchObject({ value: "", maxAge: 0 });
  expect(cookie!.attributes).toEqual(expect.arrayContaining(["Path=/launchpad.user.v1.UserService/", "HttpOnly", "SameSite=Strict"]));
}

const json = (answer: RawResponse) => JSON.parse(answer.body.toString("utf8"));

describe("refresh tokens in an HttpOnly cookie (launchpad-session: cookie)", () => {
  let stack: TestEdgeStack;

  /** A Connect JSON call through the edge. */
  const call = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    http1Request(stack.edge.port, { method: "POST", path, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  const withCookie = (value: string) => ({ ...cookieMode, cookie: `theme=dark; launchpad_refresh=${value}` });
  const signIn = () => call(loginPath, { email: admin.email, password: admin.password }, cookieMode);

  beforeAll(async () => {
    stack = await startTestEdgeStack({ edge: { LAUNCHPAD_CORS_ORIGINS: allowedOrigin } });
  });
  afterAll(() => stack?.stop());

  it("Login sets the refresh token as an HttpOnly, SameSite=Strict cookie scoped to UserService, and leaves it out of the body", async () => {
    const login = await signIn();
    expect(login.status).toBe(200);
    const body = json(login);
    expect(body.tokens.accessToken).toEqual(expect.any(String));
    expect(body.tokens).not.toHaveProperty("refreshToken");
    expect(body.tokens.refreshTokenExpireTime).toMatch(/Z$/);
    expect(body.user.email).toBe(admin.email);

    const cookie = refreshCookieOf(login)!;
    expect(cookie.value).toMatch(/^lpr_/);
    expect(cookie.attributes).toEqual(["Path=/launchpad.user.v1.UserService/", "HttpOnly", "SameSite=Strict", `Max-Age=${cookie.maxAge}`]);
    const secondsLeft = (Date.parse(body.tokens.refreshTokenExpireTime) - Date.now()) / 1000;
    expect(Math.abs(cookie.maxAge - secondsLeft)).toBeLessThan(5);
    expect(login.body.toString("utf8")).not.toContain(cookie.value);
  });

  it("RefreshToken with only the cookie answers a new access token and rotates the cookie", async () => {
    const first = refreshCookieOf(await signIn())!;
    const refreshed = await call(refreshPath, {}, withCookie(first.value));
    expect(refreshed.status).toBe(200);
    expect(json(refreshed).tokens.accessToken).toEqual(expect.any(String));
    expect(json(refreshed).tokens).not.toHaveProperty("refreshToken");
    const rotated = refreshCookieOf(refreshed)!;
    expect(rotated.value).toMatch(/^lpr_/);
    expect(rotated.value).not.toBe(first.value);
    expect(rotated.maxAge).toBeGreaterThan(0);

    const me = await call("/launchpad.user.v1.UserService/GetCurrentUser", {}, { authorization: `Bearer ${json(refreshed).tokens.accessToken}` });
    expect(json(me).user.email).toBe(admin.email);
  });

  it("a refresh cookie already exchanged is UNAUTHENTICATED and the answer clears the cookie", async () => {
    const first = refreshCookieOf(await signIn())!;
    expect((await call(refreshPath, {}, withCookie(first.value))).status).toBe(200);
    const replayed = await call(refreshPath, {}, withCookie(first.value));
    expect(replayed.status).toBe(401);
    expect(json(replayed).code).toBe("unauthenticated");
    expectCleared(replayed);
  });

  it("Logout with the cookie clears it and ends the sign-in: the next RefreshToken fails", async () => {
    const cookie = refreshCookieOf(await signIn())!;
    const logout = await call(logoutPath, {}, withCookie(cookie.value));
    expect(logout.status).toBe(200);
    expect(json(logout)).toEqual({});
    expectCleared(logout);

    const after = await call(refreshPath, {}, withCookie(cookie.value));
    expect(after.status).toBe(401);
    expectCleared(after);
  });

  it("RefreshToken or Logout in cookie mode with no cookie is UNAUTHENTICATED without asking the service", async () => {
    for (const path of [refreshPath, logoutPath]) {
      const answer = await call(path, {}, cookieMode);
      expect(answer.status).toBe(401);
      expect(json(answer)).toMatchObject({ code: "unauthenticated", message: expect.stringContaining("not signed in") });
    }
  });

  it("a refresh token in the body still wins over the cookie in cookie mode", async () => {
    const cookie = refreshCookieOf(await signIn())!;
    const plain = json(await call(loginPath, { email: admin.email, password: admin.password })).tokens.refreshToken as string;
    const refreshed = await call(refreshPath, { refreshToken: plain }, withCookie(cookie.value));
    expect(refreshed.status).toBe(200);
    // The cookie's sign-in was not touched: its token is still good.
    expect((await call(refreshPath, {}, withCookie(cookie.value))).status).toBe(200);
  });

  it("without the header nothing changes: tokens travel in the body, no Set-Cookie, and a cookie is ignored", async () => {
    const login = await call(loginPath, { email: admin.email, password: admin.password });
    expect(login.status).toBe(200);
    expect(login.headers["set-cookie"]).toBeUndefined();
    const { refreshToken } = json(login).tokens;
    expect(refreshToken).toMatch(/^lpr_/);

    const refreshed = await call(refreshPath, { refreshToken });
    expect(refreshed.headers["set-cookie"]).toBeUndefined();
    expect(json(refreshed).tokens.refreshToken).toMatch(/^lpr_/);

    const cookieOnly = await call(refreshPath, {}, { cookie: `launchpad_refresh=${json(refreshed).tokens.refreshToken}` });
    expect(cookieOnly.status).toBe(400);
    expect(cookieOnly.headers["set-cookie"]).toBeUndefined();
    // A wrong password in cookie mode sets nothing either.
    const refused = await call(loginPath, { email: admin.email, password: "wrong password" }, cookieMode);
    expect(refused.status).toBe(401);
    expect(refused.headers["set-cookie"]).toBeUndefined();
  });

  it("works with Connect binary (application/proto) and compressed bodies too, never answering with the refresh token", async () => {
    const login = await http1Request(stack.edge.port, {
      method: "POST",
      path: loginPath,
      headers: { "content-type": "application/proto", ...cookieMode },
      body: Buffer.from(toBinary(LoginRequestSchema, create(LoginRequestSchema, { email: admin.email, password: admin.password }))),
    });
    expect(login.status).toBe(200);
    const tokens = fromBinary(LoginResponseSchema, login.body).tokens!;
    expect(tokens.accessToken).not.toBe("");
    expect(tokens.refreshToken).toBe("");
    const cookie = refreshCookieOf(login)!;

    const refreshed = await http1Request(stack.edge.port, {
      method: "POST",
      path: refreshPath,
      headers: { "content-type": "application/proto", ...withCookie(cookie.value) },
      body: Buffer.alloc(0),
    });
    expect(refreshed.status).toBe(200);
    expect(fromBinary(RefreshTokenResponseSchema, refreshed.body).tokens!.refreshToken).toBe("");
    expect(refreshCookieOf(refreshed)!.value).not.toBe(cookie.value);

    const compressed = await http1Request(stack.edge.port, {
      method: "POST",
      path: loginPath,
      headers: { "content-type": "application/json", "content-encoding": "gzip", ...cookieMode },
      body: gzipSync(JSON.stringify({ email: admin.email, password: admin.password })),
    });
    expect(compressed.status).toBe(200);
    expect(json(compressed)).toMatchObject({ tokens: { accessToken: expect.any(String) } });
    expect((json(compressed).tokens as Record<string, unknown>).refreshToken).toBeUndefined();
    expect(refreshCookieOf(compressed)!.value).not.toBe("");
  });

  it("no other origin can use cookie mode: launchpad-session is not an allowed CORS header, and unknown origins are refused", async () => {
    const preflight = (origin: string) =>
      http1Request(stack.edge.port, {
        method: "OPTIONS",
        path: loginPath,
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, launchpad-session" },
      });
    const stranger = await preflight("https://evil.example.com");
    expect(stranger.status).toBe(403);
    expect(stranger.headers["access-control-allow-origin"]).toBeUndefined();
    // Even a configured origin is not allowed the header, so its browser refuses to send it.
    const configured = await preflight(allowedOrigin);
    const allowed = String(configured.headers["access-control-allow-headers"]).toLowerCase().split(/,\s*/);
    expect(allowed).toContain("content-type");
    expect(allowed).not.toContain("launchpad-session");
    expect(allowed).not.toContain("cookie");
    expect(allowed).not.toContain("*");
  });

  it("keeps refresh tokens out of the edge's logs", async () => {
    const cookie = refreshCookieOf(await signIn())!;
    const rotated = refreshCookieOf(await call(refreshPath, {}, withCookie(cookie.value)))!;
    await call(logoutPath, {}, withCookie(rotated.value));
    const logs = stack.edgeLogs.join("\n");
    expect(logs).toContain(refreshPath);
    expect(logs).not.toContain(cookie.value);
    expect(logs).not.toContain(rotated.value);
  });
});

/** What a fake UserService saw of one call. */
interface SeenCall {
  path: string;
  metadata: Record<string, unknown>;
  refreshToken: string;
}

function unaryDefinition(method: DescMethod) {
  return {
    path: methodPath(method),
    requestStream: false,
    responseStream: false,
    requestSerialize: (message: never) => Buffer.from(toBinary(method.input, message)),
    requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
    responseSerialize: (message: never) => Buffer.from(toBinary(method.output, message)),
    responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

/** A self-signed certificate made with openssl for this run, or undefined when openssl is missing. */
function selfSignedCertificate(dir: string): { cert: string; key: string } | undefined {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-keyout", key, "-out", cert,
    ], { stdio: "ignore" });
    return { cert, key };
  } catch {
    return undefined;
  }
}

describe("cookie mode in front of a recording UserService", () => {
  const seen: SeenCall[] = [];
  const grantedToken = "lpr_rotated_0123456789abcdef";
  let server: Server;
  let dir: string;
  let edges: RunningEdge[] = [];
  let tls: boolean;

  beforeAll(async () => {
    server = new Server();
    const record = (path: string, call: ServerUnaryCall<RefreshTokenRequest | LogoutRequest, unknown>) =>
      seen.push({ path, metadata: call.metadata.getMap(), refreshToken: call.request.refreshToken });
    server.addService(
      {
        RefreshToken: unaryDefinition(UserService.method.refreshToken),
        Logout: unaryDefinition(UserService.method.logout),
      } as unknown as ServiceDefinition,
      {
        RefreshToken(call: ServerUnaryCall<RefreshTokenRequest, unknown>, callback: sendUnaryData<unknown>) {
          record(refreshPath, call);
          const expires = timestampFromMs(Date.now() + 3_600_000);
          callback(null, create(RefreshTokenResponseSchema, { tokens: { accessToken: "access", refreshToken: grantedToken, refreshTokenExpireTime: expires } }));
        },
        Logout(call: ServerUnaryCall<LogoutRequest, unknown>, callback: sendUnaryData<unknown>) {
          record(logoutPath, call);
          callback({ code: status.UNAUTHENTICATED, details: "the sign-in is already over" });
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    dir = mkdtempSync(join(tmpdir(), "launchpad-session-cookie-"));
    const certificate = selfSignedCertificate(dir);
    tls = certificate !== undefined;
    const start = (env: Record<string, string>) =>
      startEdge(
        loadEdgeConfig({
          env: { LAUNCHPAD_EDGE_PORT: "0", LAUNCHPAD_USERS_ADDRESS: `127.0.0.1:${port}`, LAUNCHPAD_SHUTDOWN_GRACE: "1s", ...env },
          argv: [],
        }),
        capturedLogger("edge").logger,
      );
    edges.push(await start({}));
    if (certificate) edges.push(await start({ LAUNCHPAD_TLS_CERT: certificate.cert, LAUNCHPAD_TLS_KEY: certificate.key }));
  });
  afterAll(async () => {
    await Promise.all(edges.map((edge) => edge.stop()));
    edges = [];
    server?.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  const refresh = (edge: RunningEdge, useTls = false) =>
    http1Request(
      edge.port,
      {
        method: "POST",
        path: refreshPath,
        headers: { "content-type": "application/json", ...cookieMode, cookie: "launchpad_refresh=lpr_from_cookie; other=1", authorization: "Bearer x" },
        body: "{}",
      },
      useTls,
    );

  it("passes the cookie's token in the message, never the Cookie header or the mode header", async () => {
    const answer = await refresh(edges[0]!);
    expect(answer.status).toBe(200);
    expect(refreshCookieOf(answer)!.value).toBe(grantedToken);
    const call = seen.find((each) => each.path === refreshPath)!;
    expect(call.refreshToken).toBe("lpr_from_cookie");
    expect(call.metadata["authorization"]).toBe("Bearer x");
    expect(Object.keys(call.metadata)).not.toContain("cookie");
    expect(Object.keys(call.metadata)).not.toContain("launchpad-session");
  });

  it("clears the cookie when Logout is UNAUTHENTICATED, and passes the error on", async () => {
    const answer = await http1Request(edges[0]!.port, {
      method: "POST",
      path: logoutPath,
      headers: { "content-type": "application/json", ...cookieMode, cookie: "launchpad_refresh=lpr_stale" },
      body: "{}",
    });
    expect(answer.status).toBe(401);
    expectCleared(answer);
    expect(seen.find((each) => each.path === logoutPath)?.refreshToken).toBe("lpr_stale");
  });

  it("marks the cookie Secure when the request came over TLS", async (context) => {
    if (!tls) return context.skip("openssl is not installed");
    const answer = await refresh(edges[1]!, true);
    expect(answer.status).toBe(200);
    expect(refreshCookieOf(answer)!.attributes).toContain("Secure");
    expect(refreshCookieOf(await refresh(edges[0]!))!.attributes).not.toContain("Secure");
  });
});
