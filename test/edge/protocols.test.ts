import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { DeploymentService, type WatchDeploymentsResponse } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { GetCurrentUserResponseSchema, UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { codeName, edgeFailureOf, edgeProtocols, recordStream, within, type EdgeClient, type EdgeFailure } from "../support/edge-protocols.js";
import { missingDeployment, startRecordingUpstream, upstreamOnlyHeader, upstreamOnlyTrailer, type RecordingUpstream } from "../support/recording-upstream.js";
import { repoRoot } from "../support/program.js";
import { admin } from "../support/users-service.js";
import { changesOf, eventually, metricValue } from "../support/watching.js";

let stack: TestEdgeStack;
let bearer: Record<string, string>;

beforeAll(async () => {
  stack = await startTestEdgeStack();
  bearer = { authorization: `Bearer ${await stack.users.login(admin.email, admin.password)}` };
});

afterAll(async () => {
  await stack?.stop();
});

/** Open WatchDeployment(s) streams on the deployments service, from its own /metrics. */
const openWatchStreams = () => metricValue(stack.deployments.running.metricsPort, "deployment_watch_streams");

async function watchStreamsDropTo(count: number, what: string): Promise<void> {
  await eventually(async () => (await openWatchStreams()) === count, what, 10_000);
}

const failureSummary = (failure: EdgeFailure) => ({ code: codeName(failure.code), reason: failure.reason });

/** One HTTP date, not two joined by a comma. */
const singleHttpDate = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

describe.each(edgeProtocols.map((protocol, index) => ({ ...protocol, index })))("$name", (protocol) => {
  let client: EdgeClient;
  /** A service name of this protocol's own, so its deployments never conflict with another protocol's. */
  const service = `protocols-${protocol.index}`;

  beforeAll(() => {
    client = protocol.client(stack.url);
  });

  afterAll(() => {
    client?.close();
  });

  it("answers GetCurrentUser for the bearer token's user", async () => {
    const response = await client.getCurrentUser({ headers: bearer });
    expect(response.user?.email).toBe(admin.email);
    expect(client.httpMethods.at(-1)).toBe(protocol.usesGet ? "GET" : "POST");
  });

  it("refuses GetCurrentUser without a token: UNAUTHENTICATED", async () => {
    const failure = await edgeFailureOf(client.getCurrentUser());
    expect(codeName(failure.code)).toBe("Unauthenticated");
  });

  it("creates a deployment, and GetDeployment returns it", async () => {
    const created = await client.createDeployment({ deployment: { service, version: "1.0.0", environment: "staging" } }, { headers: bearer });
    expect(created.deployment?.name).toMatch(/^deployments\//);
    const got = await client.getDeployment({ name: created.deployment!.name }, { headers: bearer });
    expect(got.deployment).toMatchObject({ name: created.deployment!.name, service, version: "1.0.0", environment: "staging" });
    expect(client.httpMethods.at(-1)).toBe(protocol.usesGet ? "GET" : "POST");
  });

  it("WatchDeployments sends the snapshot, then a change made while it is open", async () => {
    const watched = `${service}-watch`;
    const first = await client.createDeployment({ deployment: { service: watched, version: "1.0.0", environment: "staging" } }, { headers: bearer });
    const watch = recordStream((signal) => client.watchDeployments({ filter: `service = "${watched}"` }, { headers: bearer, signal }));
    try {
      await watch.until((m) => m.some((r) => r.kind.case === "snapshot"), "the snapshot");
      const snapshot = watch.messages.find((r) => r.kind.case === "snapshot")!.kind.value as { deployments: { name: string }[] };
      expect(snapshot.deployments.map((d) => d.name)).toEqual([first.deployment!.name]);

      const second = await client.createDeployment({ deployment: { service: watched, version: "2.0.0", environment: "production" } }, { headers: bearer });
      await watch.until((m) => changesOf(m).some((c) => c.deployment?.name === second.deployment!.name), "the change of the new deployment");
      expect(changesOf(watch.messages).map((c) => c.deployment?.version)).toContain("2.0.0");
    } finally {
      watch.abort();
      await watch.ended;
    }
  });

  it("GetDeployment of an unknown id: NOT_FOUND with ErrorInfo DEPLOYMENT_NOT_FOUND", async () => {
    const failure = await edgeFailureOf(client.getDeployment({ name: `deployments/${randomUUID()}` }, { headers: bearer }));
    expect(failureSummary(failure)).toEqual({ code: "NotFound", reason: "DEPLOYMENT_NOT_FOUND" });
  });

  it("a second unfinished deployment of a service: ABORTED, DEPLOYMENT_IN_PROGRESS naming the running one", async () => {
    const conflicted = `${service}-conflict`;
    const running = await client.createDeployment({ deployment: { service: conflicted, version: "1.0.0", environment: "production" } }, { headers: bearer });
    const failure = await edgeFailureOf(
      client.createDeployment({ deployment: { service: conflicted, version: "1.0.1", environment: "production" } }, { headers: bearer }),
    );
    expect(failureSummary(failure)).toEqual({ code: "Aborted", reason: "DEPLOYMENT_IN_PROGRESS" });
    expect(failure.metadata.deployment).toBe(running.deployment!.name);
  });

  it("a client deadline on a watch ends it with DEADLINE_EXCEEDED, and the service's stream closes", async () => {
    await watchStreamsDropTo(0, "no watch open before the test");
    const watch = recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal, timeoutMs: 1_500 }));
    try {
      await watch.until((m) => m.some((r) => r.kind.case === "snapshot"), "the snapshot");
      const end = await within(watch.ended, 10_000, "the watch with a deadline");
      expect(end.how === "failed" ? codeName(end.failure.code) : end.how).toBe("DeadlineExceeded");
    } finally {
      watch.abort();
    }
    await watchStreamsDropTo(0, "the service's watch stream to close after the deadline");
  });

  it("cancelling a watch from the client closes the service's stream", async () => {
    await watchStreamsDropTo(0, "no watch open before the test");
    const watch = recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal }));
    try {
      await watch.until((m) => m.some((r) => r.kind.case === "snapshot"), "the snapshot");
      await eventually(async () => (await openWatchStreams()) === 1, "the service to count the open watch", 10_000);
    } finally {
      watch.abort();
    }
    const end = await within(watch.ended, 10_000, "the cancelled watch");
    expect(end.how === "failed" ? codeName(end.failure.code) : end.how).toBe("Canceled");
    await watchStreamsDropTo(0, "the service's watch stream to close after the client cancelled");
  });

  it("passes the client's x-request-id to the service, which logs the call under it", async () => {
    const requestId = `protocols-${protocol.index}-${randomUUID()}`;
    await client.getDeployment({ name: `deployments/${randomUUID()}` }, { headers: { ...bearer, "x-request-id": requestId } }).catch(() => undefined);
    await eventually(() => stack.deployments.logs.some((line) => line.includes(requestId)), "the service's log line", 5_000);
    const line = JSON.parse(stack.deployments.logs.find((l) => l.includes(requestId))!) as Record<string, unknown>;
    expect(line).toMatchObject({ requestId, method: "/launchpad.deployment.v1.DeploymentService/GetDeployment", code: "NotFound" });
  });

  it("echoes the x-request-id in the response, as the service does", async () => {
    const requestId = `protocols-echo-${protocol.index}-${randomUUID()}`;
    const received = new Headers();
    await client.getCurrentUser({ headers: { ...bearer, "x-request-id": requestId }, received });
    expect(received.get("x-request-id")).toBe(requestId);
  });

  it("answers with the edge's own protocol headers only: one date, no upstream gRPC headers on Connect", async () => {
    const ok = new Headers();
    await client.getCurrentUser({ headers: bearer, received: ok });
    const failed = new Headers();
    await edgeFailureOf(client.getDeployment({ name: `deployments/${randomUUID()}` }, { headers: bearer, received: failed }));
    const streamed = new Headers();
    const watch = recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal, received: streamed }));
    await watch.until((m) => m.length > 0, "the first watch message");
    watch.abort();
    await watch.ended;

    for (const headers of [ok, failed, streamed]) {
      if (headers.has("date")) expect(headers.get("date")).toMatch(singleHttpDate);
      if (!protocol.relayed && !protocol.name.startsWith("gRPC-Web")) {
        expect([...headers.keys()].filter((name) => name.startsWith("grpc-"))).toEqual([]);
      }
      if (protocol.name.startsWith("gRPC-Web")) expect(headers.has("grpc-accept-encoding")).toBe(false);
    }
  });
});

describe("header filtering, against a recording upstream", () => {
  let upstream: RecordingUpstream;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
  });

  afterAll(async () => {
    await upstream?.stop();
  });

  const getDeploymentPath = `/${DeploymentService.typeName}/GetDeployment`;
  const watchPath = `/${DeploymentService.typeName}/WatchDeployments`;
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

  describe.each(edgeProtocols.map((protocol, index) => ({ ...protocol, index })))("$name", (protocol) => {
    let client: EdgeClient;

    beforeAll(() => {
      client = protocol.client(upstream.url);
    });

    afterAll(() => {
      client?.close();
    });

    it("forwards authorization, x-request-id and the trace continued by the edge's span; never cookies, other headers or the client's x-forwarded-for", async () => {
      const requestId = `recorded-${protocol.index}-${randomUUID()}`;
      await client.getDeployment(
        { name: "deployments/recorded" },
        {
          headers: {
            authorization: "Bearer recorded-token",
            "x-request-id": requestId,
            traceparent,
            cookie: "session=secret",
            "x-arbitrary": "not for the service",
            "x-forwarded-for": "203.0.113.9",
          },
        },
      );
      const call = upstream.calls.find((c) => c.metadata["x-request-id"]?.[0] === requestId);
      expect(call?.path).toBe(getDeploymentPath);
      expect(call!.metadata).toMatchObject({ authorization: ["Bearer recorded-token"] });
      // The same trace, with the edge's own span as the service's parent.
      const [forwarded] = call!.metadata.traceparent!;
      expect(forwarded).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
      expect(forwarded).not.toBe(traceparent);
      expect(call!.metadata.cookie).toBeUndefined();
      expect(call!.metadata["x-arbitrary"]).toBeUndefined();
      expect(call!.metadata["connect-protocol-version"]).toBeUndefined();
      // Only the users service is told the client address.
      expect(call!.metadata["x-forwarded-for"]).toBeUndefined();
    });

    it("passes none of the upstream's own headers or trailers back: not on success, errors or streams", async () => {
      const ok = new Headers();
      const response = await client.getDeployment({ name: "deployments/recorded" }, { headers: bearer, received: ok });
      expect(response.deployment?.service).toBe("recorded");

      const failed = new Headers();
      const failure = await edgeFailureOf(client.getDeployment({ name: missingDeployment }, { headers: bearer, received: failed }));
      expect(failureSummary(failure)).toEqual({ code: "NotFound", reason: "DEPLOYMENT_NOT_FOUND" });
      expect(failure.metadata).toEqual({ upstream: "recording" });

      const streamed = new Headers();
      const messages: WatchDeploymentsResponse[] = [];
      for await (const message of client.watchDeployments({}, { headers: bearer, received: streamed })) messages.push(message);
      expect(messages.map((m) => m.kind.case)).toEqual(["snapshot"]);

      for (const headers of [ok, failed, streamed]) {
        expect(headers.has(upstreamOnlyHeader)).toBe(false);
        expect(headers.has(upstreamOnlyTrailer)).toBe(false);
        expect(headers.has("set-cookie")).toBe(false);
      }
    });

    it("passes the client's deadline on to the service", async () => {
      const requestId = `deadline-${protocol.index}-${randomUUID()}`;
      await client.getDeployment({ name: "deployments/recorded" }, { headers: { "x-request-id": requestId }, timeoutMs: 5_000 });
      const call = upstream.calls.find((c) => c.metadata["x-request-id"]?.[0] === requestId)!;
      expect(call.deadline).toBeLessThan(Infinity);
      expect(call.deadline - call.receivedAt).toBeGreaterThan(0);
      expect(call.deadline - call.receivedAt).toBeLessThanOrEqual(5_000 + 50);
    });

    it("gives a unary call that names no deadline the edge's default (LAUNCHPAD_EDGE_REQUEST_TIMEOUT, 30 s)", async () => {
      const requestId = `default-deadline-${protocol.index}-${randomUUID()}`;
      await client.getDeployment({ name: "deployments/recorded" }, { headers: { "x-request-id": requestId } });
      const call = upstream.calls.find((c) => c.metadata["x-request-id"]?.[0] === requestId)!;
      expect(call.deadline, "the upstream call has no deadline").toBeLessThan(Infinity);
      expect(call.deadline - call.receivedAt).toBeLessThanOrEqual(30_000 + 50);
    });

    it("lets a stream that names no deadline run without one", async () => {
      const requestId = `stream-deadline-${protocol.index}-${randomUUID()}`;
      for await (const _ of client.watchDeployments({}, { headers: { "x-request-id": requestId } })) void _;
      const call = upstream.calls.find((c) => c.metadata["x-request-id"]?.[0] === requestId)!;
      expect(call.path).toBe(watchPath);
      expect(call.deadline).toBe(Infinity);
    });
  });
});

describe("buf curl through the edge", () => {
  const buf = `${repoRoot}node_modules/.bin/buf`;
  const run = promisify(execFile);

  /** Runs buf curl (asynchronously: the edge runs in this process); resolves with its exit code and output. */
  async function bufCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(buf, ["curl", ...args], { cwd: repoRoot, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
    }
  }

  const methodsOf = (service: typeof UserService | typeof DeploymentService) => service.methods.map((m) => `${service.typeName}/${m.name}`);

  it("lists every method of both services by reflection (gRPC, h2c)", async () => {
    const listed = await bufCurl(["--protocol", "grpc", "--http2-prior-knowledge", "--list-methods", stack.url]);
    expect(listed.code, listed.stderr).toBe(0);
    const methods = listed.stdout.trim().split("\n");
    expect(methods).toEqual(expect.arrayContaining([...methodsOf(UserService), ...methodsOf(DeploymentService)]));
  });

  /** Decodes the ErrorInfo reasons among the details buf curl printed. */
  const reasonsOf = (details: { type: string; value: string }[] = []) =>
    details.filter((d) => d.type === "google.rpc.ErrorInfo").map((d) => fromBinary(ErrorInfoSchema, Buffer.from(d.value, "base64")).reason);

  const schemaFile = ["--schema", "gen/launchpad.binpb"];

  it.each([
    { protocol: "grpc", schema: "reflection", args: [] as string[] },
    { protocol: "connect", schema: "gen/launchpad.binpb, over HTTP/1.1", args: schemaFile },
    { protocol: "grpcweb", schema: "gen/launchpad.binpb, over HTTP/1.1", args: schemaFile },
    { protocol: "connect", schema: "gen/launchpad.binpb, over h2c", args: [...schemaFile, "--http2-prior-knowledge"] },
    { protocol: "grpcweb", schema: "gen/launchpad.binpb, over h2c", args: [...schemaFile, "--http2-prior-knowledge"] },
  ])("calls GetCurrentUser with --protocol $protocol, the schema from $schema", async ({ protocol, args }) => {
    const result = await bufCurl(["--protocol", protocol, ...args, "-H", `Authorization: ${bearer.authorization}`, `${stack.url}/${UserService.typeName}/GetCurrentUser`]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ user: { email: admin.email } });
  });

  it.each(["connect", "grpcweb"])(
    "calls GetCurrentUser with --protocol %s and the schema from reflection (buf curl's default: reflection over the same protocol)",
    async (protocol) => {
      const result = await bufCurl(["--protocol", protocol, "-H", `Authorization: ${bearer.authorization}`, `${stack.url}/${UserService.typeName}/GetCurrentUser`]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ user: { email: admin.email } });
    },
  );

  it.each([
    { protocol: "grpc", args: [] as string[] },
    { protocol: "connect", args: schemaFile },
    { protocol: "grpcweb", args: schemaFile },
  ])("shows NOT_FOUND and its ErrorInfo for --protocol $protocol", async ({ protocol, args }) => {
    const result = await bufCurl([
      "--protocol",
      protocol,
      ...args,
      "-H",
      `Authorization: ${bearer.authorization}`,
      "-d",
      JSON.stringify({ name: `deployments/${randomUUID()}` }),
      `${stack.url}/${DeploymentService.typeName}/GetDeployment`,
    ]);
    // buf curl exits with the gRPC code shifted three bits left.
    expect(result.code, result.stderr).toBe(Code.NotFound << 3);
    const error = JSON.parse(result.stderr) as { code: string; details?: { type: string; value: string }[] };
    expect(error.code).toBe("not_found");
    expect(reasonsOf(error.details)).toEqual(["DEPLOYMENT_NOT_FOUND"]);
  });
});

describe("compressed gRPC requests through the relay", () => {
  it("a grpc-js client sending gzip-compressed messages is answered, each frame checked and passed on as it came", async () => {
    // grpc-js compresses every message with gzip (its algorithm 2) on this channel.
    const client = new Client(new URL(stack.url).host, credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    const metadata = new Metadata();
    metadata.set("authorization", bearer.authorization);
    const identity = (bytes: Buffer) => bytes;
    try {
      const reply = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest("/launchpad.user.v1.UserService/GetCurrentUser", identity, identity, Buffer.alloc(0), metadata, (error, value) =>
          error ? reject(error) : resolve(value!),
        ),
      );
      expect(fromBinary(GetCurrentUserResponseSchema, reply).user?.email).toBe(admin.email);
    } finally {
      client.close();
    }
  });
});
