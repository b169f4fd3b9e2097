import type { DescMethod } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
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

/**
 * Connect JSON clients for both services, through the edge that served the
 * console. Every other call carries the current access token.
 */
export function createApi(accessToken: () => Promise<string | undefined>): Api {
  const credentials: Interceptor = (next) => async (request) => {
    if (cookieModeMethods.has(request.method)) {
      request.header.set("launchpad-session", "cookie");
    } else {
      const token = await accessToken();
      if (token) request.header.set("authorization", `Bearer ${token}`);
    }
    return next(request);
  };
  const transport = createConnectTransport({
    baseUrl: new URL(".", document.baseURI).href,
    interceptors: [credentials],
  });
  return { users: createClient(UserService, transport), deployments: createClient(DeploymentService, transport) };
}
