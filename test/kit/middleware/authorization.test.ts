import { createServer, Metadata, Status, type CallContext, type ServerMiddlewareCall } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeploymentService } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import type { AuthContext } from "../../../services/kit/auth/principal.js";
import { indexMethods, toNiceService } from "../../../services/kit/grpc/service-definition.js";
import { authorizationCheck } from "../../../services/kit/middleware/authorization.js";
import { checksMiddleware } from "../../../services/kit/middleware/call-checks.js";
import { createErrorMappingMiddleware } from "../../../services/kit/middleware/error-mapping.js";
import {
  callError,
  errorInfo,
  serve,
  stubHandlers,
  stubRequestContext,
  userClient,
  userDefinition,
  userHandlers,
  type Served,
} from "../../support/grpc.js";
import { typedClient } from "../../support/typed-client.js";

/**
 * Stands in for authentication: "x-test-principal: users/a VIEWER" signs the
 * call in as users/a with that role; no header leaves it anonymous.
 */
async function* stubPrincipal<Req, Res>(call: ServerMiddlewareCall<Req, Res, AuthContext>, context: CallContext) {
  const [user, role] = context.metadata.get("x-test-principal")?.split(" ") ?? [];
  const principal = user
    ? {
        user,
        email: "",
        kind: UserKind.HUMAN,
        role: Role[role as keyof typeof Role],
        environments: [],
        credential: "access-token" as const,
        sessionId: "s",
      }
    : undefined;
  return yield* call.next(call.request, { ...context, principal });
}

const as = (user: string, role: keyof typeof Role) => ({ metadata: Metadata({ "x-test-principal": `${user} ${role}` }) });

describe("authorization middleware", () => {
  let served: Served;
  let users: ReturnType<typeof userClient>;
  let deployments: ReturnType<typeof deploymentClient>;
  const deploymentClient = (s: Served) => typedClient(DeploymentService, s.channel);

  beforeAll(async () => {
    const server = createServer()
      .use(stubRequestContext())
      .use(createErrorMappingMiddleware())
      .use(stubPrincipal)
      .use(checksMiddleware(authorizationCheck(indexMethods([UserService, DeploymentService]))));
    const ok = async () => ({});
    server.add(
      userDefinition,
      userHandlers({
        login: ok,
        getCurrentUser: ok,
        listUsers: ok,
        getUser: ok,
        updateUser: ok,
        createApiKey: ok,
        deleteApiKey: ok,
        async *streamUsers() {},
      }),
    );
    server.add(
      toNiceService(DeploymentService),
      stubHandlers(DeploymentService, { getDeployment: ok, cancelDeployment: ok, reportDeploymentProgress: ok }),
    );
    served = await serve(server);
    users = userClient(served.channel);
    deployments = deploymentClient(served);
  });

  afterAll(() => served?.close());

  async function expectDenied(call: Promise<unknown>, permission: string) {
    const error = await callError(call);
    expect(error.code).toBe(Status.PERMISSION_DENIED);
    expect(errorInfo(error)).toMatchObject({ reason: "PERMISSION_DENIED", metadata: { permission } });
    expect(error.details).toContain(permission);
  }

  async function expectCredentialsRequired(call: Promise<unknown>) {
    const error = await callError(call);
    expect(error.code).toBe(Status.UNAUTHENTICATED);
    expect(errorInfo(error)?.reason).toBe("CREDENTIALS_REQUIRED");
  }

  describe("public methods", () => {
    it("let anyone call, signed in or not", async () => {
      await expect(users.login({ email: "a@example.com", password: "pw" })).resolves.toBeDefined();
      await expect(users.login({ email: "a@example.com", password: "pw" }, as("users/a", "VIEWER"))).resolves.toBeDefined();
    });
  });

  describe("authenticated methods", () => {
    it("let any signed-in principal call, whatever its role", async () => {
      for (const role of ["VIEWER", "AGENT", "UNSPECIFIED"] as const) {
        await expect(users.getCurrentUser({}, as("users/a", role))).resolves.toBeDefined();
      }
    });

    it("refuse anonymous callers with UNAUTHENTICATED CREDENTIALS_REQUIRED", async () => {
      await expectCredentialsRequired(users.getCurrentUser({}));
    });
  });

  describe("permission methods", () => {
    it("refuse anonymous callers with UNAUTHENTICATED CREDENTIALS_REQUIRED, not PERMISSION_DENIED", async () => {
      await expectCredentialsRequired(users.listUsers({}));
      await expectCredentialsRequired(users.getUser({ name: "users/a" }));
      await expectCredentialsRequired(deployments.getDeployment({ name: "deployments/d" }));
    });

    it("let a caller whose role grants the permission call", async () => {
      await expect(users.listUsers({}, as("users/root", "ADMIN"))).resolves.toBeDefined();
      await expect(deployments.getDeployment({ name: "deployments/d" }, as("users/v", "VIEWER"))).resolves.toBeDefined();
      await expect(deployments.cancelDeployment({ name: "deployments/d" }, as("users/d", "DEPLOYER"))).resolves.toBeDefined();
      await expect(deployments.reportDeploymentProgress({ name: "deployments/d" }, as("users/g", "AGENT"))).resolves.toBeDefined();
    });

    it("refuse a caller whose role lacks the permission with PERMISSION_DENIED naming it in metadata.permission", async () => {
      await expectDenied(users.listUsers({}, as("users/a", "DEPLOYER")), "users.list");
      await expectDenied(deployments.cancelDeployment({ name: "deployments/d" }, as("users/v", "VIEWER")), "deployments.cancel");
      await expectDenied(deployments.reportDeploymentProgress({ name: "deployments/d" }, as("users/d", "DEPLOYER")), "deployments.report");
    });

    it("apply to streaming methods too", async () => {
      await expectDenied(
        (async () => {
          for await (const _ of users.streamUsers({}, as("users/a", "VIEWER")));
        })(),
        "users.list",
      );
    });
  });

  describe("self_field", () => {
    it("lets callers without the permission act on themselves (GetUser name)", async () => {
      await expect(users.getUser({ name: "users/a" }, as("users/a", "VIEWER"))).resolves.toBeDefined();
    });

    it("reads a nested field (UpdateUser user.name)", async () => {
      await expect(users.updateUser({ user: { name: "users/a" } }, as("users/a", "VIEWER"))).resolves.toBeDefined();
      await expectDenied(users.updateUser({ user: { name: "users/b" } }, as("users/a", "VIEWER")), "users.update");
      await expectDenied(users.updateUser({}, as("users/a", "VIEWER")), "users.update");
    });

    it("covers the caller's own sub-resources (DeleteApiKey name, CreateApiKey parent)", async () => {
      await expect(users.deleteApiKey({ name: "users/a/apiKeys/k1" }, as("users/a", "VIEWER"))).resolves.toBeDefined();
      await expect(users.createApiKey({ parent: "users/a" }, as("users/a", "VIEWER"))).resolves.toBeDefined();
      await expectDenied(users.deleteApiKey({ name: "users/b/apiKeys/k1" }, as("users/a", "VIEWER")), "apikeys.delete");
    });

    it("does not let a caller act on another user, even one whose name starts with theirs", async () => {
      await expectDenied(users.getUser({ name: "users/b" }, as("users/a", "VIEWER")), "users.get");
      await expectDenied(users.getUser({ name: "users/ab" }, as("users/a", "VIEWER")), "users.get");
      await expectDenied(users.getUser({ name: "" }, as("users/a", "VIEWER")), "users.get");
    });

    it("does not widen methods that declare none (ListUsers)", async () => {
      await expectDenied(users.listUsers({}, as("users/a", "VIEWER")), "users.list");
    });
  });

  describe("methods without a policy", () => {
    let bare: Served;

    beforeAll(async () => {
      // Authorization that knows no methods: every call is one nobody decided about.
      const server = createServer()
        .use(stubRequestContext())
        .use(createErrorMappingMiddleware())
        .use(stubPrincipal)
        .use(checksMiddleware(authorizationCheck(new Map())));
      server.add(userDefinition, userHandlers({ login: async () => ({}) }));
      bare = await serve(server);
    });

    afterAll(() => bare?.close());

    it("are refused with PERMISSION_DENIED NO_ACCESS_POLICY, even for admins", async () => {
      const error = await callError(userClient(bare.channel).login({}, as("users/root", "ADMIN")));
      expect(error.code).toBe(Status.PERMISSION_DENIED);
      expect(errorInfo(error)?.reason).toBe("NO_ACCESS_POLICY");
    });
  });
});
