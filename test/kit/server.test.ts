import { create, createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { createChannel, createClient, Metadata, Status, type Channel } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role, UserKind } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { CredentialVerifier, Principal } from "../../services/kit/auth/principal.js";
import { DomainError } from "../../services/kit/errors.js";
import { createServiceServer, type HandlerContext, type ServiceServer } from "../../services/kit/server.js";
import {
  callError,
  captureLogs,
  errorInfo,
  rawUnaryCall,
  stubHandlers,
  userClient,
  wireReason,
  type MethodsOf,
} from "../support/grpc.js";

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
const SERVING = 1;
const NOT_SERVING = 2;

const principals: Record<string, Principal> = {
  admin: { user: "users/root", email: "root@example.com", kind: UserKind.HUMAN, role: Role.ADMIN, environments: [], credential: "access-token", sessionId: "s1" },
  viewer: { user: "users/v", email: "v@example.com", kind: UserKind.HUMAN, role: Role.VIEWER, environments: [], credential: "access-token", sessionId: "s2" },
};

const verifier: CredentialVerifier = {
  async verifyAccessToken(token) {
    const principal = principals[token];
    if (!principal) throw new DomainError("unauthenticated", "INVALID_TOKEN", "the access token is not valid");
    return principal;
  },
  async verifyApiKey() {
    throw new DomainError("unauthenticated", "INVALID_API_KEY", "the API key is not valid");
  },
};

const bearer = (token: string) => ({ metadata: Metadata({ authorization: `Bearer ${token}` }) });

/** Encodes a grpc.reflection ServerReflectionRequest: list_services (7) or file_containing_symbol (4). */
function reflectionRequest(field: 4 | 7, value: string): Uint8Array {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish();
}

/** What one ServerReflectionResponse answered: service names (6), file descriptors (4) or an error (7). */
function readReflectionResponse(bytes: Uint8Array) {
  const answer = { services: [] as string[], files: [] as Uint8Array[], error: false };
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 6 || field === 4) {
      // ListServiceResponse.service (1) → ServiceResponse.name (1); FileDescriptorResponse.file_descriptor_proto (1).
      const inner = new BinaryReader(reader.bytes());
      while (inner.pos < inner.len) {
        const [innerField, innerType] = inner.tag();
        if (innerField !== 1) {
          inner.skip(innerType);
        } else if (field === 4) {
          answer.files.push(inner.bytes());
        } else {
          const service = new BinaryReader(inner.bytes());
          while (service.pos < service.len) {
            const [f, t] = service.tag();
            if (f === 1) answer.services.push(service.string());
            else service.skip(t);
          }
        }
      }
    } else {
      if (field === 7) answer.error = true;
      reader.skip(wireType);
    }
  }
  return answer;
}

/** One request on a raw grpc-js ServerReflectionInfo stream of the given version. */
async function reflect(address: string, version: "v1" | "v1alpha", request: Uint8Array) {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    const responses = await new Promise<Uint8Array[]>((resolve, reject) => {
      const received: Uint8Array[] = [];
      const call = client.makeBidiStreamRequest(
        `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
        (bytes: Uint8Array) => Buffer.from(bytes),
        (bytes: Buffer) => new Uint8Array(bytes),
      );
      call.on("data", (bytes: Uint8Array) => received.push(bytes));
      call.on("error", reject);
      call.on("status", (status: grpc.StatusObject) => (status.code === grpc.status.OK ? resolve(received) : reject(new Error(status.details))));
      call.write(request);
      call.end();
    });
    expect(responses).toHaveLength(1);
    return readReflectionResponse(responses[0]!);
  } finally {
    client.close();
  }
}

describe("createServiceServer", () => {
  const logs = captureLogs();
  const registry = new Registry();
  let server: ServiceServer;
  let address: string;
  let channel: Channel;
  let client: ReturnType<typeof userClient>;

  beforeAll(async () => {
    server = createServiceServer({ logger: logs.logger, registry, verifier, services: [UserService] });
    server.add(
      UserService,
      stubHandlers<MethodsOf<typeof UserService>, HandlerContext>(UserService, {
        async getUser(request, context) {
          return { user: { name: request.name, email: context.principal?.email ?? "", displayName: context.request.requestId } };
        },
        async login() {
          return { user: { name: "users/signed-in" } };
        },
        async deleteUser() {
          throw new Error("relation \"users\" does not exist: DELETE FROM users WHERE id = $1");
        },
      }),
    );
    address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    channel = createChannel(address);
    client = userClient(channel);
  });

  afterAll(async () => {
    channel?.close();
    await server?.shutdown(0);
  });

  describe("health", () => {
    it("answers grpc.health.v1 Check with SERVING, without credentials", async () => {
      const health = createClient(HealthDefinition, channel);
      expect((await health.check({ service: "" })).status).toBe(SERVING);
    });

    it("answers NOT_SERVING once marked unhealthy", async () => {
      const health = createClient(HealthDefinition, channel);
      server.health.setStatus("unhealthy");
      try {
        expect((await health.check({ service: "" })).status).toBe(NOT_SERVING);
      } finally {
        server.health.setStatus("healthy");
      }
    });
  });

  describe("reflection", () => {
    it.each(["v1", "v1alpha"] as const)("lists launchpad.user.v1.UserService over grpc.reflection.%s", async (version) => {
      const answer = await reflect(address, version, reflectionRequest(7, "*"));
      expect(answer.error).toBe(false);
      expect(answer.services).toContain("launchpad.user.v1.UserService");
    });

    it.each(["v1", "v1alpha"] as const)("serves the descriptor of UserService's file over grpc.reflection.%s", async (version) => {
      const answer = await reflect(address, version, reflectionRequest(4, "launchpad.user.v1.UserService"));
      const names = answer.files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
      expect(names).toContain("launchpad/user/v1/user_service.proto");
    });
  });

  describe("the middleware chain", () => {
    it("hands handlers the principal and the request context", async () => {
      const { user } = await client.getUser({ name: "users/a" }, { metadata: Metadata({ authorization: "Bearer admin", "x-request-id": "chain-1" }) });
      expect(user).toMatchObject({ name: "users/a", email: "root@example.com", displayName: "chain-1" });
    });

    it("authorizes before validating: an anonymous caller gets CREDENTIALS_REQUIRED, not a field error", async () => {
      const error = await callError(client.getUser({ name: "" }));
      expect(error.code).toBe(Status.UNAUTHENTICATED);
      expect(errorInfo(error)?.reason).toBe("CREDENTIALS_REQUIRED");
    });

    it("validates for callers who may call: an admin with a missing name gets FIELD_REQUIRED", async () => {
      const error = await callError(client.getUser({ name: "" }, bearer("admin")));
      expect(error.code).toBe(Status.INVALID_ARGUMENT);
      expect(errorInfo(error)?.reason).toBe("FIELD_REQUIRED");
    });

    it("maps the verifier's refusal to UNAUTHENTICATED with its reason", async () => {
      const error = await callError(client.getUser({ name: "users/a" }, bearer("stolen")));
      expect(error.code).toBe(Status.UNAUTHENTICATED);
      expect(errorInfo(error)?.reason).toBe("INVALID_TOKEN");
    });

    it("refuses undecodable bytes with INVALID_ARGUMENT MALFORMED_REQUEST through the whole chain", async () => {
      // LoginRequest.email (field 1) holding invalid UTF-8; Login is public, so only validation judges it.
      const outcome = await rawUnaryCall(address, "/launchpad.user.v1.UserService/Login", new Uint8Array([0x0a, 0x01, 0xff]));
      expect(outcome.code).toBe(Status.INVALID_ARGUMENT);
      expect(wireReason(outcome.status)).toBe("MALFORMED_REQUEST");
    });

    it("lets public methods through with a bad token", async () => {
      expect((await client.login({ email: "a@example.com", password: "pw" }, bearer("stolen"))).user?.name).toBe("users/signed-in");
    });

    it("sends unexpected errors as INTERNAL, logs them, and counts them as Internal", async () => {
      const error = await callError(client.deleteUser({ name: "users/a" }, bearer("admin")));
      expect(error.code).toBe(Status.INTERNAL);
      expect(error.details).toBe("internal error");
      expect(logs.lines.some((l) => l.msg === "unexpected error" && l.err?.message?.includes("DELETE FROM"))).toBe(true);
      expect(await registry.metrics()).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="DeleteUser",grpc_code="Internal"\} 1/);
    });

    it("logs each call with its final code and principal", async () => {
      await callError(client.getUser({ name: "users/x" }, bearer("viewer")));
      const line = logs.lines.filter((l) => l.msg === "call").at(-1);
      expect(line).toMatchObject({ method: "/launchpad.user.v1.UserService/GetUser", code: "PermissionDenied", principal: "users/v" });
    });

    it("counts calls refused by authentication in the metrics", async () => {
      expect(await registry.metrics()).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="GetUser",grpc_code="Unauthenticated"\} [1-9]/);
    });
  });
});

describe("createServiceServer start-up checks", () => {
  it("refuses a service with a method that declares no access policy", () => {
    const file = create(FileDescriptorProtoSchema, {
      name: "test/v1/open.proto",
      package: "test.v1",
      syntax: "proto3",
      messageType: [{ name: "Ping" }],
      service: [{ name: "Open", method: [{ name: "Ping", inputType: ".test.v1.Ping", outputType: ".test.v1.Ping" }] }],
    });
    const open: DescService = createFileRegistry(file, () => undefined).getService("test.v1.Open")!;
    expect(() =>
      createServiceServer({ logger: captureLogs().logger, registry: new Registry(), verifier, services: [UserService, open] }),
    ).toThrow("methods without an access policy: /test.v1.Open/Ping");
  });
});
