import type { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { Handlers } from "../kit/server.js";
import { createApiKeyHandlers } from "./handlers/api-keys.js";
import type { UserServiceDeps } from "./handlers/deps.js";
import { createIdentityChangeHandlers } from "./handlers/identity-changes.js";
import { createSignInHandlers } from "./handlers/sign-in.js";
import { createUserHandlers } from "./handlers/users.js";

/** Every handler of UserService. */
export function createUserService(deps: UserServiceDeps): Handlers<typeof UserService> {
  return {
    ...createUserHandlers(deps),
    ...createApiKeyHandlers(deps),
    ...createSignInHandlers(deps),
    ...createIdentityChangeHandlers(deps),
  };
}
