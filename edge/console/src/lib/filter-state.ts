import { DeploymentState } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";

/** What the deployments list is narrowed to; an empty string means "any". */
export interface DeploymentFilter {
  service: string;
  environment: string;
  /** A DeploymentState name without its prefix, such as "FAILED". */
  state: string;
  /** A user's resource name, "users/{user}". */
  creator: string;
}

/** The filter that matches every deployment. */
export const anyDeployment: DeploymentFilter = Object.freeze({ service: "", environment: "", state: "", creator: "" });

const keys = ["service", "environment", "state", "creator"] as const;

/** The state names a filter may hold: every DeploymentState but UNSPECIFIED. */
export const filterableStates = Object.keys(DeploymentState).filter(
  (key) => Number.isNaN(Number(key)) && key !== "UNSPECIFIED",
) as (keyof typeof DeploymentState)[];

function stateOf(name: string): DeploymentState | undefined {
  return filterableStates.includes(name as keyof typeof DeploymentState) ? DeploymentState[name as keyof typeof DeploymentState] : undefined;
}

/**
 * The AIP-160 filter of ListDeployments and WatchDeployments. Values are
 * quoted as JSON strings, which is how the server reads them, so quotes and
 * backslashes in a service name cannot change the expression.
 */
export function toFilterExpression(filter: DeploymentFilter): string {
  const terms: string[] = [];
  for (const key of keys) {
    const value = filter[key].trim();
    if (!value) continue;
    if (key === "state") {
      if (stateOf(value) !== undefined) terms.push(`state = DEPLOYMENT_STATE_${value}`);
    } else {
      terms.push(`${key} = ${JSON.stringify(value)}`);
    }
  }
  return terms.join(" AND ");
}

/** Whether a deployment passes the filter, as the server decides it: exact matches on every field set. */
export function matchesFilter(
  filter: DeploymentFilter,
  deployment: { service: string; environment: string; state: DeploymentState; creator: string },
): boolean {
  const state = stateOf(filter.state.trim());
  return (
    (!filter.service.trim() || deployment.service === filter.service.trim()) &&
    (!filter.environment.trim() || deployment.environment === filter.environment.trim()) &&
    (state === undefined || deployment.state === state) &&
    (!filter.creator.trim() || deployment.creator === filter.creator.trim())
  );
}

/** Reads a filter from a URL query (the part of the console's hash after "?"); unknown states are dropped. */
export function filterFromQuery(query: URLSearchParams): DeploymentFilter {
  const filter = { ...anyDeployment };
  for (const key of keys) filter[key] = query.get(key)?.trim() ?? "";
  if (stateOf(filter.state) === undefined) filter.state = "";
  return filter;
}

/** The URL query of a filter, with only the fields that are set, so links stay short and shareable. */
export function filterToQuery(filter: DeploymentFilter): URLSearchParams {
  const query = new URLSearchParams();
  for (const key of keys) if (filter[key].trim()) query.set(key, filter[key].trim());
  return query;
}
