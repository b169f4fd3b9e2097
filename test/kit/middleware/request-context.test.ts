import { forever } from "abort-controller-x";
import { createServer, Metadata, ServerError, Status, type CallContext, type ServerMiddlewareCall } from "nice-grpc";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createRequestContextMiddleware,
  outgoingTraceparent,
  type RequestContext,
  type RequestContextExt,
} from "../../../services/kit/middleware/request-context.js";
import { callError, captureLogs, serve, userClient, userDefinition, userHandlers, type Served } from "../../support/grpc.js";

const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const parentSpan = "00f067aa0ba902b7";

describe("request-context middleware", () => {
  const logs = captureLogs();
  let served: Served;
  let client: ReturnType<typeof userClient>;
  let seen: RequestContext | undefined;
  let streamStarted: () => void;

  beforeAll(async () => {
    const server = createServer()
      .use(createRequestContextMiddleware(logs.logger))
      // Stands in for authentication, which names the principal for the access log.
      .use(async function* signIn<Req, Res>(call: ServerMiddlewareCall<Req, Res>, context: CallContext & RequestContextExt) {
        if (context.metadata.get("authorization") === "Bearer a") context.request.principal = "users/a";
        return yield* call.next(call.request, context);
      });
    server.add(
      userDefinition,
      userHandlers<RequestContextExt>({
        async getUser(request, context) {
          seen = context.request;
          if (request.name === "users/missing") throw new ServerError(Status.NOT_FOUND, "no such user");
          return { user: { name: request.name } };
        },
        async login(request, context) {
          context.request.log.info(
            { request: { email: request.email, password: request.password }, session: { tokens: { refreshToken: "r-secret" } } },
            "signing in",
          );
          return {};
        },
        async *streamUsers(request, context) {
          yield { user: { name: "users/1" } };
          streamStarted();
          if (request.filter === "until-cancelled") await forever(context.signal);
          await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
        },
      }),
    );
    served = await serve(server);
    client = userClient(served.channel);
  });

  afterAll(() => served?.close());

  beforeEach(() => {
    seen = undefined;
  });

  function callLines() {
    return logs.lines.filter((line) => line.msg === "call");
  }

  async function headerOf(call: (onHeader: (header: Metadata) => void) => Promise<unknown>): Promise<Metadata> {
    let received: Metadata | undefined;
    await call((header) => (received = header)).catch(() => undefined);
    if (!received) throw new Error("no response header");
    return received;
  }

  it("echoes the caller's x-request-id in the response header and hands it to the handler", async () => {
    const header = await headerOf((onHeader) =>
      client.getUser({ name: "users/a" }, { metadata: Metadata({ "x-request-id": "req-42" }), onHeader }),
    );
    expect(header.get("x-request-id")).toBe("req-42");
    expect(seen?.requestId).toBe("req-42");
  });

  it("generates a request id when the caller sends none", async () => {
    const header = await headerOf((onHeader) => client.getUser({ name: "users/a" }, { onHeader }));
    expect(header.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen?.requestId).toBe(header.get("x-request-id"));
  });

  it("replaces an x-request-id that is not a short token, rather than echoing it", async () => {
    const header = await headerOf((onHeader) =>
      client.getUser({ name: "users/a" }, { metadata: Metadata({ "x-request-id": "a b <script>" }), onHeader }),
    );
    expect(header.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("echoes the request id on failed calls too", async () => {
    const header = await headerOf((onHeader) =>
      client.getUser({ name: "users/missing" }, { metadata: Metadata({ "x-request-id": "req-404" }), onHeader }),
    );
    expect(header.get("x-request-id")).toBe("req-404");
  });

  it("reuses the trace id of a W3C traceparent and gives the call its own span id", async () => {
    await client.getUser({ name: "users/a" }, { metadata: Metadata({ traceparent: `00-${traceId}-${parentSpan}-01` }) });
    expect(seen?.traceId).toBe(traceId);
    expect(seen?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(seen?.spanId).not.toBe(parentSpan);
    expect(outgoingTraceparent(seen!)).toBe(`00-${traceId}-${seen!.spanId}-01`);
  });

  it("starts a new trace when traceparent is absent or malformed", async () => {
    await client.getUser({ name: "users/a" }, { metadata: Metadata({ traceparent: `00-${traceId}-nothex-01` }) });
    expect(seen?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(seen?.traceId).not.toBe(traceId);
  });

  it("gives every call a trace id and span id of its own, across many calls", async () => {
    const ids = new Set<string>();
    // More calls than one refill of the id pool serves, so the pool is drawn across a refill.
    for (let i = 0; i < 200; i++) {
      await client.getUser({ name: "users/a" });
      expect(seen?.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(seen?.spanId).toMatch(/^[0-9a-f]{16}$/);
      ids.add(seen!.traceId).add(seen!.spanId);
    }
    expect(ids.size).toBe(400);
  });

  it("writes one info line per successful call with method, code, durationMs, principal and ids", async () => {
    const before = callLines().length;
    await client.getUser(
      { name: "users/a" },
      { metadata: Metadata({ authorization: "Bearer a", "x-request-id": "req-log", traceparent: `00-${traceId}-${parentSpan}-01` }) },
    );
    const lines = callLines().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      part: "test",
      method: "/launchpad.user.v1.UserService/GetUser",
      code: "OK",
      principal: "users/a",
      requestId: "req-log",
      traceId,
    });
    expect(typeof lines[0]!.durationMs).toBe("number");
    expect(lines[0]!.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("logs a failed call at warn with the code as grpc-go spells it and no principal when anonymous", async () => {
    const before = callLines().length;
    await callError(client.getUser({ name: "users/missing" }));
    const lines = callLines().slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", code: "NotFound", method: "/launchpad.user.v1.UserService/GetUser" });
    expect(lines[0]!.principal).toBeUndefined();
  });

  it("never logs request bodies, and the call's logger redacts secrets handlers log", async () => {
    await client.login({ email: "a@example.com", password: "hunter2-hunter2" });
    expect(callLines().at(-1)?.method).toBe("/launchpad.user.v1.UserService/Login");
    expect(JSON.stringify(callLines().at(-1))).not.toContain("a@example.com");
    const line = logs.lines.find((l) => l.msg === "signing in");
    expect(line?.request).toEqual({ email: "a@example.com", password: "[redacted]" });
    expect(line?.session).toEqual({ tokens: { refreshToken: "[redacted]" } });
    expect(logs.text()).not.toContain("hunter2");
    expect(logs.text()).not.toContain("r-secret");
  });

  async function cancelStream(filter: string): Promise<void> {
    const started = new Promise<void>((resolve) => (streamStarted = resolve));
    const abort = new AbortController();
    const stream = client.streamUsers({ filter }, { signal: abort.signal })[Symbol.asyncIterator]();
    await stream.next();
    await started;
    abort.abort();
    await expect(stream.next()).rejects.toThrow(/abort/i);
  }

  it("logs a stream the client cancels with code Canceled", async () => {
    const before = callLines().length;
    await cancelStream("until-cancelled");
    await vi.waitFor(() => expect(callLines().slice(before)).toHaveLength(1));
    expect(callLines().at(-1)).toMatchObject({ method: "/launchpad.user.v1.UserService/StreamUsers", code: "Canceled" });
  });

  it("logs a cancelled stream as Canceled even when its handler then returns normally", async () => {
    const before = callLines().length;
    await cancelStream("ignoring-cancellation");
    await vi.waitFor(() => expect(callLines().slice(before)).toHaveLength(1));
    expect(callLines().at(-1)).toMatchObject({ method: "/launchpad.user.v1.UserService/StreamUsers", code: "Canceled" });
  });
});
