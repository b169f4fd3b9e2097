import { getOption, hasOption, type DescMethod } from "@bufbuild/protobuf";
import { access, type AccessPolicy } from "../../../gen/launchpad/auth/v1/policy_pb.js";
import { methodPath } from "../grpc/service-definition.js";

const policies = new WeakMap<DescMethod, AccessPolicy | undefined>();

/** The access policy a method declares, or undefined when it declares none; decoded once per method. */
export function accessPolicy(method: DescMethod): AccessPolicy | undefined {
  if (!policies.has(method)) policies.set(method, hasOption(method, access) ? getOption(method, access) : undefined);
  return policies.get(method);
}

/**
 * Throws when any method lacks an access policy: a method nobody decided
 * about is refused at start-up, not served open.
 */
export function assertEveryMethodHasPolicy(methods: Iterable<DescMethod>): void {
  const missing = [...methods].filter((m) => accessPolicy(m)?.rule.case === undefined).map(methodPath);
  if (missing.length > 0) throw new Error(`methods without an access policy: ${missing.join(", ")}`);
}

/**
 * Whether a resource name is the user's own: the user itself or a
 * sub-resource of it ("users/a" owns "users/a" and "users/a/apiKeys/k").
 */
export function ownsResource(user: string, resource: string): boolean {
  return resource === user || resource.startsWith(`${user}/`);
}
