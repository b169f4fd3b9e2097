import { create, toBinary } from "@bufbuild/protobuf";
import type { CallContext, ServiceImplementation } from "nice-grpc";
import { describe, expect, expectTypeOf, it } from "vitest";
import { DeploymentService, WatchDeploymentsResponseSchema } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import {
  GetUserRequestSchema,
  GetUserResponseSchema,
  UserService,
  type GetUserRequest,
  type GetUserResponse,
} from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { indexMethods, methodPath, toNiceService, UndecodableRequest } from "../../../services/kit/grpc/service-definition.js";
import type { Handlers, HandlerContext } from "../../../services/kit/server.js";

const definition = toNiceService(UserService);

describe("toNiceService", () => {
  it("names every method by its gRPC path", () => {
    expect(definition.getUser.path).toBe("/launchpad.user.v1.UserService/GetUser");
    expect(definition.login.path).toBe("/launchpad.user.v1.UserService/Login");
    expect(Object.keys(definition)).toEqual(UserService.methods.map((m) => m.localName));
  });

  it("marks streaming methods", () => {
    expect(definition.getUser).toMatchObject({ requestStream: false, responseStream: false });
    expect(definition.streamUsers).toMatchObject({ requestStream: false, responseStream: true });
  });

  it("keeps idempotency_level NO_SIDE_EFFECTS (GetUser, ListUsers) and omits it where unset (CreateUser)", () => {
    expect(definition.getUser.options).toEqual({ idempotencyLevel: "NO_SIDE_EFFECTS" });
    expect(definition.listUsers.options).toEqual({ idempotencyLevel: "NO_SIDE_EFFECTS" });
    expect(definition.createUser.options).toEqual({});
  });

  it("serializes init shapes and full messages to the same protobuf bytes", () => {
    const expected = toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { name: "users/a" }));
    expect(definition.getUser.requestSerialize({ name: "users/a" })).toEqual(expected);
    expect(definition.getUser.requestSerialize(create(GetUserRequestSchema, { name: "users/a" }))).toEqual(expected);
  });

  it("encodes a stream response once for every stream it goes to in one turn, and keeps no bytes past the turn", async () => {
    const watch = toNiceService(DeploymentService).watchDeployments;
    const message = create(WatchDeploymentsResponseSchema, { revision: 7n });
    const first = watch.responseSerialize(message);
    expect(watch.responseSerialize(message)).toBe(first);
    await new Promise((resolve) => setImmediate(resolve));
    const later = watch.responseSerialize(message);
    expect(later).not.toBe(first);
    expect(later).toEqual(first);
  });

  it("decodes requests and responses to generated messages", () => {
    const request = definition.getUser.requestDeserialize(toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { name: "users/a" })));
    expect(request).toMatchObject({ $typeName: "launchpad.user.v1.GetUserRequest", name: "users/a" });
    const response = definition.getUser.responseDeserialize(
      toBinary(GetUserResponseSchema, create(GetUserResponseSchema, { user: { name: "users/a" } })),
    );
    expect(response.user?.name).toBe("users/a");
  });

  it("decodes undecodable request bytes to an UndecodableRequest marker instead of throwing", () => {
    const request: unknown = definition.getUser.requestDeserialize(new Uint8Array([0x0a, 0x02, 0xff, 0xfe]));
    expect(request).toBeInstanceOf(UndecodableRequest);
    expect((request as UndecodableRequest).cause).toBeInstanceOf(Error);
  });
});

describe("methodPath and indexMethods", () => {
  it("index every method of several services by path", () => {
    const methods = indexMethods([UserService, DeploymentService]);
    expect(methods.size).toBe(UserService.methods.length + DeploymentService.methods.length);
    expect(methods.get("/launchpad.user.v1.UserService/GetUser")).toBe(UserService.method.getUser);
    expect(methodPath(DeploymentService.method.createDeployment)).toBe("/launchpad.deployment.v1.DeploymentService/CreateDeployment");
  });
});

// Compile-time checks: `npm run typecheck` (tsc over test/) fails if any of
// these stops being an error, or if a correct handler stops compiling.
type UserImpl = ServiceImplementation<typeof definition>;

describe("handler types", () => {
  it("give handlers generated request types and accept init shapes or messages as responses", () => {
    expectTypeOf<Parameters<UserImpl["getUser"]>[0]>().toEqualTypeOf<GetUserRequest>();
    const init: UserImpl["getUser"] = async (request) => ({ user: { name: request.name } });
    const message: UserImpl["getUser"] = async () => create(GetUserResponseSchema, {}) satisfies GetUserResponse;
    const withContext: Handlers<typeof UserService>["getCurrentUser"] = async (_, context: CallContext & HandlerContext) => ({
      user: { name: context.principal?.user ?? "" },
    });
    expect([init, message, withContext]).toHaveLength(3);
  });

  it("reject wrong shapes at compile time", () => {
    // @ts-expect-error a field of the wrong type
    const wrongType: UserImpl["getUser"] = async () => ({ user: { email: 42 } });
    // @ts-expect-error the response of another method (ListUsersResponse)
    const otherResponse: UserImpl["getUser"] = async () => ({ users: [], nextPageToken: "" });
    // @ts-expect-error a field the request does not have
    const unknownRequestField: UserImpl["getUser"] = async (request) => ({ user: { name: request.nmae } });
    // @ts-expect-error a unary handler for a server-streaming method
    const notAStream: UserImpl["streamUsers"] = async () => ({ user: {} });
    // @ts-expect-error the principal is not in a plain nice-grpc context
    const noPrincipal: UserImpl["getCurrentUser"] = async (_, context) => ({ user: { name: context.principal.user } });
    expect([wrongType, otherResponse, unknownRequestField, notAStream, noPrincipal]).toHaveLength(5);
  });
});
