import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { DeploymentService } from "../../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../../../gen/launchpad/user/v1/user_service_pb.js";

/** The console's view of the API: the generated clients every other Connect client uses too. */
export interface Api {
  users: Client<typeof UserService>;
  deployments: Client<typeof DeploymentService>;
}

/**
 * The sign-in methods, which the console calls in the edge's cookie mode:
 * the refresh token travels in an HttpOnly cookie, out of reach of scripts.
 */
const cookieModeMethods = new Set<DescMethod>([UserService.method.login, UserService.method.refreshToken, UserService.method.logout]);

/** Where the API clients get their credentials. */
export interface Credentials {
  accessToken(): Promise<string | undefined>;
  /** A call was refused as unauthenticated: the token may have been revoked, so the sign-in is checked. */
  refused(): void;
}

/**
 * Connect JSON clients for both services, through the edge that served the
 * console. Every other call carries the current access token.
 */
export function createApi(credentials: Credentials): Api {
  const authenticate: Interceptor = (next) => async (request) => {
    if (cookieModeMethods.has(request.method)) {
      request.header.set("launchpad-session", "cookie");
      return next(request);
    }
    const token = await credentials.accessToken();
    if (token) request.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(request);
    } catch (error) {
      if (ConnectError.from(error).code === Code.Unauthenticated) credentials.refused();
      throw error;
    }
  };
  const transport = createConnectTransport({
    baseUrl: new URL(".", document.baseURI).href,
    interceptors: [authenticate],
  });
  return { users: createClient(UserService, transport), deployments: createClient(DeploymentService, transport) };
}
