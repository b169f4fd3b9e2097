import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { CredentialVerifier } from "../../services/kit/auth/principal.js";
import { DomainError } from "../../services/kit/errors.js";
import { createServiceServer, type HandlerContext, type ServiceServer } from "../../services/kit/server.js";
import { captureLogs, stubHandlers, type MethodsOf } from "../support/grpc.js";
import { answeredFiles, checkHealthOverGrpc, listedServices, reflectOverGrpc } from "../support/grpc-introspection.js";
import { repoRoot } from "../support/program.js";
import { startTestUsers, type TestUsersService } from "../support/users-service.js";

const introspection = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

describe("the users service: health by service name, and reflection listing health", () => {
  let users: TestUsersService;

  beforeAll(async () => {
    users = await startTestUsers();
  });
  afterAll(() => users?.stop());

  it.each(["", UserService.typeName])("Health/Check(%j) answers SERVING", async (service) => {
    expect(await checkHealthOverGrpc(users.address, service)).toEqual({ status: ServingStatus.SERVING });
  });

  it.each([DeploymentService.typeName, "launchpad.nope.v1.Nothing"])("Health/Check(%j), a service it does not serve, is NOT_FOUND with the reason SERVICE_NOT_FOUND", async (service) => {
    expect(await checkHealthOverGrpc(users.address, service)).toEqual({ code: grpc.status.NOT_FOUND });
    const client = createClient(Health, createGrpcTransport({ baseUrl: `http://${users.address}` }));
    const error = await client.check({ service }).catch((caught: unknown) => ConnectError.from(caught));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).findDetails(ErrorInfoSchema)).toEqual([expect.objectContaining({ reason: "SERVICE_NOT_FOUND", domain: "launchpad.dev" })]);
  });

  it.each(["v1", "v1alpha"] as const)("reflection %s lists UserService, health and both reflection services, and nothing else", async (version) => {
    const [answer] = await reflectOverGrpc(users.address, version, [{ messageRequest: { case: "listServices", value: "*" } }]);
    expect(listedServices(answer!).sort()).toEqual([UserService.typeName, ...introspection].sort());
  });

  it("reflection serves grpc/health/v1/health.proto for the symbol grpc.health.v1.Health, and it decodes to the service", async () => {
    const [answer] = await reflectOverGrpc(users.address, "v1", [{ messageRequest: { case: "fileContainingSymbol", value: Health.typeName } }]);
    const { names, registry } = answeredFiles(answer!);
    expect(names[0]).toBe("grpc/health/v1/health.proto");
    expect(registry.getService(Health.typeName)?.methods.map((method) => method.name)).toEqual(expect.arrayContaining(["Check", "Watch"]));
  });

  it("buf curl calls grpc.health.v1.Health/Check by the service's name with no local protos", async () => {
    const check = JSON.stringify({ service: UserService.typeName });
    const { stdout } = await promisify(execFile)(
      `${repoRoot}node_modules/.bin/buf`,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", check, `http://${users.address}/grpc.health.v1.Health/Check`],
      { timeout: 20_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });
});

describe("a service server's named health follows the server's own status", () => {
  const verifier: CredentialVerifier = {
    verifyAccessToken: async () => {
      throw new DomainError("unauthenticated", "INVALID_TOKEN", "no tokens here");
    },
    verifyApiKey: async () => {
      throw new DomainError("unauthenticated", "INVALID_API_KEY", "no keys here");
    },
  };
  let server: ServiceServer;
  let address: string;

  beforeAll(async () => {
    server = createServiceServer({ logger: captureLogs().logger, registry: new Registry(), verifier, services: [UserService] });
    server.add(UserService, stubHandlers<MethodsOf<typeof UserService>, HandlerContext>(UserService, {}));
    address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
  });
  afterAll(() => server?.shutdown(0));

  it("NOT_SERVING by name once the server is marked unhealthy, SERVING again once healthy, and Watch sees both", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: `http://${address}` }));
    const leave = new AbortController();
    const watch = client.watch({ service: UserService.typeName }, { signal: leave.signal })[Symbol.asyncIterator]();
    try {
      expect((await watch.next()).value?.status).toBe(ServingStatus.SERVING);
      server.health.setStatus("unhealthy");
      expect(await checkHealthOverGrpc(address, UserService.typeName)).toEqual({ status: ServingStatus.NOT_SERVING });
      expect((await watch.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
      server.health.setStatus("healthy");
      expect(await checkHealthOverGrpc(address, UserService.typeName)).toEqual({ status: ServingStatus.SERVING });
      expect((await watch.next()).value?.status).toBe(ServingStatus.SERVING);
    } finally {
      leave.abort();
      await watch.next().catch((error: unknown) => expect(error).toMatchObject({ code: Code.Canceled }));
    }
  });
});
