import { DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { enumFilterValues, type FilterField, type FilterTerm } from "../kit/filter.js";
import type { DeploymentRecord, EventRecord } from "./store/types.js";

/** The fields ListDeployments and WatchDeployments filter on. */
export const deploymentFilterFields: Record<string, FilterField> = {
  service: { kind: "string" },
  environment: { kind: "string" },
  creator: { kind: "string" },
  state: { kind: "enum", values: enumFilterValues(DeploymentState, "DEPLOYMENT_STATE_") },
  create_time: { kind: "timestamp" },
};

function compare(actual: string | number | Date, term: FilterTerm): boolean {
  if (term.operator === ":") return String(actual).toLowerCase().includes(String(term.value).toLowerCase());
  const [a, b] = actual instanceof Date ? [actual.getTime(), (term.value as Date).getTime()] : [actual, term.value];
  switch (term.operator) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}

function valueOf(deployment: DeploymentRecord, field: string): string | number | Date {
  switch (field) {
    case "service":
      return deployment.service;
    case "environment":
      return deployment.environment;
    case "creator":
      return deployment.creator;
    case "state":
      return deployment.state;
    default:
      return deployment.createTime;
  }
}

/**
 * Whether a change concerns a filtered watch. A change that moves a
 * deployment out of a state filter is still sent, so dashboards see it leave.
 */
export function eventMatcher(terms: readonly FilterTerm[]): (event: EventRecord) => boolean {
  return (event) =>
    terms.every((term) =>
      term.field === "state"
        ? compare(event.state, term) || compare(event.previousState, term)
        : compare(valueOf(event.deployment, term.field), term),
    );
}

/** Watches of one deployment match only its events. */
export function deploymentMatcher(id: string): (event: EventRecord) => boolean {
  return (event) => event.deploymentId === id;
}
