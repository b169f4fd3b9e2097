import { execFile } from "node:child_process";
import { createServer, type Http2Server } from "node:http2";
import { once } from "node:events";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { http } from "../../gen/google/api/annotations_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import * as reflectionV1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as reflectionV1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { access } from "../../gen/launchpad/auth/v1/policy_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { introspectionRoutes, reflectionRequestMaxBytes } from "../../edge/introspection.js";
import { repoRoot } from "../support/program.js";
import { answeredFileDescriptors, answeredFiles, checkHealthOverGrpc, listedServices, reflectOverGrpc } from "../support/grpc-introspection.js";

const served = [UserService.typeName, DeploymentService.typeName];
const introspection = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

describe("introspectionRoutes: reflection and health in the edge's own router", () => {
  let server: Http2Server;
  let address: string;
  let baseUrl: string;

  beforeAll(async () => {
    server = createServer(connectNodeAdapter({ routes: introspectionRoutes(served) }));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    baseUrl = `http://${address}`;
  });

  afterAll(async () => {
    server.close();
  });

  describe("reflection over gRPC (grpc-js, as grpcurl)", () => {
    it.each(["v1", "v1alpha"] as const)("%s lists the Launchpad services, health and both reflection services", async (version) => {
      const [answer] = await reflectOverGrpc(address, version, [{ host: "edge", messageRequest: { case: "listServices", value: "*" } }]);
      expect(listedServices(answer!).sort()).toEqual([...served, ...introspection].sort());
      expect(answer!.validHost).toBe("edge");
      expect(answer!.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
    });

    it.each(["v1", "v1alpha"] as const)("%s answers file_containing_symbol for DeploymentService with its file and every import, enough to build the service", async (version) => {
      const [answer] = await reflectOverGrpc(address, version, [{ messageRequest: { case: "fileContainingSymbol", value: DeploymentService.typeName } }]);
      const { names, registry } = answeredFiles(answer!);
      expect(names[0]).toBe("launchpad/deployment/v1/deployment_service.proto");
      expect(names).toContain("google/api/annotations.proto");
      const service = registry.getService(DeploymentService.typeName);
      expect(service?.methods.map((method) => method.name)).toEqual(DeploymentService.methods.map((method) => method.name));
    });

    it.each([
      ["a method", "launchpad.deployment.v1.DeploymentService.CreateDeployment", "launchpad/deployment/v1/deployment_service.proto"],
      ["a message field", "launchpad.user.v1.User.email", "launchpad/user/v1/user.proto"],
      ["the health service", "grpc.health.v1.Health", "grpc/health/v1/health.proto"],
      ["a well-known type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ])("finds the file declaring %s", async (_what, symbol, file) => {
      const [answer] = await reflectOverGrpc(address, "v1", [{ messageRequest: { case: "fileContainingSymbol", value: symbol } }]);
      expect(answeredFiles(answer!).names[0]).toBe(file);
    });

    it("answers file_by_filename with the file first, then its imports", async () => {
      const [answer] = await reflectOverGrpc(address, "v1", [{ messageRequest: { case: "fileByFilename", value: "launchpad/user/v1/user_service.proto" } }]);
      const { names } = answeredFiles(answer!);
      expect(names[0]).toBe("launchpad/user/v1/user_service.proto");
      expect(names).toEqual(expect.arrayContaining(["launchpad/user/v1/user.proto", "launchpad/auth/v1/policy.proto", "google/protobuf/descriptor.proto"]));
      expect(new Set(names).size).toBe(names.length);
    });

    it("sends each import once per stream: a later answer holds the file asked for and only the imports not sent yet", async () => {
      const [first, again, user] = await reflectOverGrpc(address, "v1", [
        { messageRequest: { case: "fileContainingSymbol", value: DeploymentService.typeName } },
        { messageRequest: { case: "fileContainingSymbol", value: DeploymentService.typeName } },
        { messageRequest: { case: "fileContainingSymbol", value: UserService.typeName } },
      ]);
      const namesOf = (answer: typeof first) => answeredFileDescriptors(answer!).map((file) => file.name);
      const sentFirst = namesOf(first);
      expect(namesOf(again)).toEqual(["launchpad/deployment/v1/deployment_service.proto"]);
      const userFiles = namesOf(user);
      expect(userFiles[0]).toBe("launchpad/user/v1/user_service.proto");
      expect(userFiles).toContain("launchpad/user/v1/user.proto");
      expect(userFiles.filter((name) => sentFirst.includes(name))).toEqual([]);
    });

    it("answers file_containing_extension and all_extension_numbers_of_type for method options", async () => {
      const [byExtension, numbers] = await reflectOverGrpc(address, "v1", [
        { messageRequest: { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: access.number } } },
        { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
      ]);
      expect(answeredFiles(byExtension!).names[0]).toBe("launchpad/auth/v1/policy.proto");
      expect(numbers!.messageResponse).toEqual({
        case: "allExtensionNumbersResponse",
        value: expect.objectContaining({ baseTypeName: "google.protobuf.MethodOptions", extensionNumber: expect.arrayContaining([access.number, http.number]) }),
      });
    });

    it.each([
      ["an unknown symbol", { case: "fileContainingSymbol", value: "launchpad.nope.v1.Nothing" }],
      ["an unknown method of a known service", { case: "fileContainingSymbol", value: "launchpad.user.v1.UserService.Nothing" }],
      ["an unknown file", { case: "fileByFilename", value: "nope.proto" }],
      ["an unknown extension", { case: "fileContainingExtension", value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 } }],
      ["the extensions of an unknown type", { case: "allExtensionNumbersOfType", value: "launchpad.Nope" }],
    ] as const)("answers NOT_FOUND in error_response for %s, and the stream goes on", async (_what, messageRequest) => {
      const [missing, listed] = await reflectOverGrpc(address, "v1alpha", [{ messageRequest }, { messageRequest: { case: "listServices", value: "" } }]);
      expect(missing!.messageResponse).toEqual({ case: "errorResponse", value: expect.objectContaining({ errorCode: Code.NotFound }) });
      expect(listedServices(listed!)).toContain(DeploymentService.typeName);
    });

    it("answers INVALID_ARGUMENT in error_response for a request that asks nothing", async () => {
      const [answer] = await reflectOverGrpc(address, "v1", [{ host: "edge" }]);
      expect(answer!.messageResponse).toEqual({ case: "errorResponse", value: expect.objectContaining({ errorCode: Code.InvalidArgument }) });
    });
  });

  describe.each([
    ["Connect (binary)", (url: string): Transport => createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true })],
    ["Connect (JSON)", (url: string): Transport => createConnectTransport({ baseUrl: url, httpVersion: "2" })],
    ["gRPC-Web", (url: string): Transport => createGrpcWebTransport({ baseUrl: url, httpVersion: "2" })],
  ])("reflection over %s", (_protocol, transport) => {
    it.each([
      ["v1", reflectionV1.ServerReflection],
      ["v1alpha", reflectionV1alpha.ServerReflection],
    ] as const)("%s lists the services and serves DeploymentService's file", async (_version, service) => {
      const client = createClient(service as typeof reflectionV1.ServerReflection, transport(baseUrl));
      const answers = [];
      for await (const answer of client.serverReflectionInfo(
        (async function* () {
          yield { messageRequest: { case: "listServices" as const, value: "" } };
          yield { messageRequest: { case: "fileContainingSymbol" as const, value: DeploymentService.typeName } };
        })(),
      )) {
        answers.push(answer);
      }
      expect(listedServices(answers[0]!)).toEqual(expect.arrayContaining([...served, "grpc.health.v1.Health"]));
      expect(answeredFiles(answers[1]!).registry.getService(DeploymentService.typeName)).toBeDefined();
    });
  });

  it(`refuses a reflection request message over ${reflectionRequestMaxBytes} bytes with RESOURCE_EXHAUSTED`, async () => {
    const client = createClient(reflectionV1.ServerReflection, createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }));
    const oversized = (async function* () {
      yield { host: "x".repeat(reflectionRequestMaxBytes), messageRequest: { case: "listServices" as const, value: "" } };
    })();
    const error = await (async () => {
      for await (const _answer of client.serverReflectionInfo(oversized));
    })().catch((caught: unknown) => ConnectError.from(caught));
    expect(error?.code).toBe(Code.ResourceExhausted);
  });

  describe("buf curl with no local protos", () => {
    const bufCurl = (...args: string[]) => promisify(execFile)(`${repoRoot}node_modules/.bin/buf`, ["curl", "--http2-prior-knowledge", ...args], { timeout: 20_000 });

    it.each([
      ["grpc", "grpc-v1"],
      ["grpc", "grpc-v1alpha"],
      ["connect", "grpc-v1"],
      ["grpcweb", "grpc-v1alpha"],
    ])("calls grpc.health.v1.Health/Check by name with --protocol %s and --reflect-protocol %s (reflection over the same protocol)", async (protocol, reflect) => {
      const check = JSON.stringify({ service: DeploymentService.typeName });
      const { stdout } = await bufCurl("--protocol", protocol, "--reflect-protocol", reflect, "-d", check, `${baseUrl}/grpc.health.v1.Health/Check`);
      expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
    });

    it("lists every method of both services and of health", async () => {
      const { stdout } = await bufCurl("--protocol", "grpc", "--list-methods", baseUrl);
      const listed = stdout.split("\n").filter(Boolean);
      const expected = [UserService, DeploymentService, Health].flatMap((service) => service.methods.map((method) => `${service.typeName}/${method.name}`));
      expect(listed).toEqual(expect.arrayContaining(expected));
    });
  });

  describe("health", () => {
    it.each(["", ...served])("Check(%j) answers SERVING over gRPC", async (service) => {
      expect(await checkHealthOverGrpc(address, service)).toEqual({ status: ServingStatus.SERVING });
    });

    it("Check for a name the edge does not serve is NOT_FOUND with a stable ErrorInfo reason", async () => {
      expect(await checkHealthOverGrpc(address, "launchpad.nope.v1.Nothing")).toEqual({ code: Code.NotFound });
      const client = createClient(Health, createGrpcTransport({ baseUrl }));
      const error = await client.check({ service: "launchpad.nope.v1.Nothing" }).catch((caught: unknown) => ConnectError.from(caught));
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).findDetails(ErrorInfoSchema)).toEqual([expect.objectContaining({ reason: "SERVICE_NOT_FOUND", domain: "launchpad.dev" })]);
    });

    it("List names the edge and every service it serves, all SERVING", async () => {
      const client = createClient(Health, createConnectTransport({ baseUrl, httpVersion: "2" }));
      const { statuses } = await client.list({});
      expect(Object.keys(statuses).sort()).toEqual(["", ...served].sort());
      expect(new Set(Object.values(statuses).map((s) => s.status))).toEqual(new Set([ServingStatus.SERVING]));
    });

    it.each([
      [UserService.typeName, ServingStatus.SERVING],
      ["launchpad.nope.v1.Nothing", ServingStatus.SERVICE_UNKNOWN],
    ])("Watch(%s) sends %i first and holds the stream open until the caller leaves", async (service, status) => {
      const client = createClient(Health, createGrpcTransport({ baseUrl }));
      const leave = new AbortController();
      const stream = client.watch({ service }, { signal: leave.signal })[Symbol.asyncIterator]();
      expect((await stream.next()).value?.status).toBe(status);
      const next = stream.next();
      leave.abort();
      await expect(next).rejects.toMatchObject({ code: Code.Canceled });
    });

    it("Watch ends with the reason of the server's shutdownSignal, so shutdown does not wait for watchers", async () => {
      const shutdown = new AbortController();
      const stopping = createServer(connectNodeAdapter({ routes: introspectionRoutes(served), shutdownSignal: shutdown.signal }));
      stopping.listen(0, "127.0.0.1");
      await once(stopping, "listening");
      try {
        const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${(stopping.address() as AddressInfo).port}` }));
        const stream = client.watch({ service: "" })[Symbol.asyncIterator]();
        expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
        const next = stream.next();
        shutdown.abort(new ConnectError("the edge is shutting down", Code.Unavailable));
        await expect(next).rejects.toMatchObject({ code: Code.Unavailable });
      } finally {
        stopping.close();
      }
    });
  });
});
