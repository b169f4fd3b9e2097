import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";

/** The id part of "deployments/{id}". */
export function deploymentId(name: string): string {
  return name.slice(name.indexOf("/") + 1);
}

/** How a user's resource name is shown: "you" for the viewer, otherwise the name. */
export function userLabel(name: string, viewer: User): string {
  if (!name) return "—";
  return name === viewer.name ? `you (${viewer.email})` : name;
}
