import { Role } from "../../../gen/launchpad/user/v1/user_pb.js";

const read = ["deployments.get", "deployments.list"];
const deploy = [...read, "deployments.create", "deployments.cancel", "deployments.rollback"];

/** The permissions each role grants. Admins hold every permission. */
const grants: ReadonlyMap<Role, ReadonlySet<string>> = new Map([
  [Role.VIEWER, new Set(read)],
  [Role.DEPLOYER, new Set(deploy)],
  [Role.AGENT, new Set([...read, "deployments.report"])],
]);

/** Whether a role holds a permission. */
export function roleGrants(role: Role, permission: string): boolean {
  return role === Role.ADMIN || (grants.get(role)?.has(permission) ?? false);
}
