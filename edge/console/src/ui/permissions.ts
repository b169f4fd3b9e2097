import { Role, type User } from "../../../../gen/launchpad/user/v1/user_pb.js";

/** Which controls the console shows. The server decides; this only hides what it would refuse. */
export interface Permissions {
  manageUsers: boolean;
  /** Whether the user may create, cancel and roll back in an environment. */
  deployTo(environment: string): boolean;
  deploySomewhere: boolean;
}

/** The console's view of a user's role (see Role in user.proto). */
export function permissionsOf(user: User): Permissions {
  const admin = user.role === Role.ADMIN;
  const deployer = user.role === Role.DEPLOYER;
  return {
    manageUsers: admin,
    deploySomewhere: admin || deployer,
    deployTo: (environment) => admin || (deployer && (user.environments.length === 0 || user.environments.includes(environment))),
  };
}
