import { createServer, Metadata, Status } from "nice-grpc";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Role, UserKind } from "../../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import type { AuthContext, CredentialVerifier, Principal, VerifyingCall } from "../../../services/kit/auth/principal.js";
import { DomainError } from "../../../services/kit/errors.js";
import { indexMethods } from "../../../services/kit/grpc/service-definition.js";
import { authenticationCheck } from "../../../services/kit/middleware/authentication.js";
import { checksMiddleware } from "../../../services/kit/middleware/call-checks.js";
import { createErrorMappingMiddleware } from "../../../services/kit/middleware/error-mapping.js";
import type { RequestContextExt } from "../../../services/kit/middleware/request-context.js";
import {
  callError,
  errorInfo,
  serve,
  stubRequestContext,
  userClient,
  userDefinition,
  userHandlers,
  type Served,
} from "../../support/grpc.js";

const person = (user: string, credential: Principal["credential"]): Principal => ({
  user,
  email: `${user.slice(6)}@example.com`,
  kind: UserKind.HUMAN,
  role: Role.VIEWER,
  environments: [],
  credential,
  sessionId: credential === "access-token" ? "s-1" : "",
});

describe("authentication middleware", () => {
  const verified: Array<{ via: "access-token" | "api-key"; credential: string; call: VerifyingCall | undefined }> = [];
  const verifier: CredentialVerifier = {
    async verifyAccessToken(token, call) {
      verified.push({ via: "access-token", credential: token, call });
      if (token === "expired") throw new DomainError("unauthenticated", "TOKEN_EXPIRED", "the access token has expired");
      return person("users/jwt", "access-token");
    },
    async verifyApiKey(key, call) {
      verified.push({ via: "api-key", credential: key, call });
      if (key === "lpk_revoked") throw new DomainError("unauthenticated", "INVALID_API_KEY", "the API key is not valid");
      return person("users/key", "api-key");
    },
  };
  let served: Served;
  let client: ReturnType<typeof userClient>;

  beforeAll(async () => {
    const server = createServer()
      .use(stubRequestContext())
      .use(createErrorMappingMiddleware())
      .use(checksMiddleware(authenticationCheck(indexMethods([UserService]), verifier)));
    // Handlers echo what authentication left them: the principal and the access-log name.
    const echo = async (_: unknown, context: AuthContext & RequestContextExt) => ({
      user: {
        name: context.principal?.user ?? "anonymous",
        email: context.principal?.credential ?? "",
        displayName: context.request.principal ?? "",
      },
    });
    server.add(userDefinition, userHandlers<AuthContext & RequestContextExt>({ getCurrentUser: echo, login: echo }));
    served = await serve(server);
    client = userClient(served.channel);
  });

  afterAll(() => served?.close());

  beforeEach(() => {
    verified.length = 0;
  });

  const withAuthorization = (value: string) => ({ metadata: Metadata({ authorization: value }) });

  it("leaves the principal unset when there is no authorization header, for authorization to judge", async () => {
    const { user } = await client.getCurrentUser({});
    expect(user?.name).toBe("anonymous");
    expect(verified).toEqual([]);
  });

  it('sends "Bearer lpk_..." to verifyApiKey and hands the principal on', async () => {
    const { user } = await client.getCurrentUser({}, withAuthorization("Bearer lpk_abc123"));
    expect(verified.map(({ via, credential }) => ({ via, credential }))).toEqual([{ via: "api-key", credential: "lpk_abc123" }]);
    expect(user).toMatchObject({ name: "users/key", email: "api-key" });
  });

  it("sends any other bearer token to verifyAccessToken and hands the principal on", async () => {
    const { user } = await client.getCurrentUser({}, withAuthorization("Bearer eyJhbGciOiJFZERTQSJ9.e30.sig"));
    expect(verified.map(({ via, credential }) => ({ via, credential }))).toEqual([
      { via: "access-token", credential: "eyJhbGciOiJFZERTQSJ9.e30.sig" },
    ]);
    expect(user).toMatchObject({ name: "users/jwt", email: "access-token" });
  });

  it("names the principal in the request context for the access log", async () => {
    const { user } = await client.getCurrentUser({}, withAuthorization("Bearer lpk_abc123"));
    expect(user?.displayName).toBe("users/key");
  });

  it("passes the call's abort signal and trace (the call's own span as parent) to the verifier", async () => {
    await client.getCurrentUser({}, withAuthorization("Bearer token"));
    expect(verified[0]?.call?.signal).toBeInstanceOf(AbortSignal);
    // stubRequestContext's trace and span ids.
    expect(verified[0]?.call?.traceparent).toBe(`00-${"0".repeat(31)}1-${"0".repeat(15)}1-01`);
  });

  it("accepts the scheme in any case", async () => {
    const { user } = await client.getCurrentUser({}, withAuthorization("bearer token"));
    expect(user?.name).toBe("users/jwt");
  });

  it.each(["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "lpk_abc123", "Token abc"])(
    'refuses the malformed header "%s" with UNAUTHENTICATED MALFORMED_CREDENTIALS, verifying nothing',
    async (header) => {
      const error = await callError(client.getCurrentUser({}, withAuthorization(header)));
      expect(error.code).toBe(Status.UNAUTHENTICATED);
      expect(errorInfo(error)?.reason).toBe("MALFORMED_CREDENTIALS");
      expect(verified).toEqual([]);
    },
  );

  it("refuses a credential the verifier rejects with UNAUTHENTICATED and the verifier's reason", async () => {
    const expired = await callError(client.getCurrentUser({}, withAuthorization("Bearer expired")));
    expect(expired.code).toBe(Status.UNAUTHENTICATED);
    expect(errorInfo(expired)?.reason).toBe("TOKEN_EXPIRED");
    const revoked = await callError(client.getCurrentUser({}, withAuthorization("Bearer lpk_revoked")));
    expect(revoked.code).toBe(Status.UNAUTHENTICATED);
    expect(errorInfo(revoked)?.reason).toBe("INVALID_API_KEY");
  });

  it.each(["Bearer expired", "Basic dXNlcjpwYXNz", "Bearer lpk_revoked"])(
    'lets public methods (Login) through without verifying, even with "%s"',
    async (header) => {
      const { user } = await client.login({ email: "a@example.com", password: "pw" }, withAuthorization(header));
      expect(user?.name).toBe("anonymous");
      expect(verified).toEqual([]);
    },
  );
});
