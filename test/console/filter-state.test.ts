import { describe, expect, it } from "vitest";
import { DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { deploymentFilterFields } from "../../services/deployments/filters.js";
import { parseFilter } from "../../services/kit/filter.js";
import {
  anyDeployment,
  filterableStates,
  filterFromQuery,
  filterToQuery,
  matchesFilter,
  toFilterExpression,
  type DeploymentFilter,
} from "../../edge/console/src/lib/filter-state.js";

/** A filter with only the given fields set. */
function filterOf(fields: Partial<DeploymentFilter>): DeploymentFilter {
  return { ...anyDeployment, ...fields };
}

/** A deployment as matchesFilter sees it: api in prod, in progress, created by ada. */
function deploymentOf(fields: Partial<Parameters<typeof matchesFilter>[1]> = {}): Parameters<typeof matchesFilter>[1] {
  return { service: "api", environment: "prod", state: DeploymentState.IN_PROGRESS, creator: "users/ada", ...fields };
}

/** The terms the server reads from `expression`, as plain field/operator/value triples. */
function serverTerms(expression: string) {
  return parseFilter(expression, deploymentFilterFields).map(({ field, operator, value }) => ({ field, operator, value }));
}

describe("filterableStates", () => {
  it("lists every deployment state by name except UNSPECIFIED", () => {
    expect(filterableStates).toEqual(["PENDING", "IN_PROGRESS", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED", "SUPERSEDED"]);
  });
});

describe("toFilterExpression", () => {
  it("is empty for a filter with nothing set, or only blanks", () => {
    expect(toFilterExpression(anyDeployment)).toBe("");
    expect(toFilterExpression({ service: "  ", environment: "\t", state: " ", creator: "" })).toBe("");
  });

  it("compares each set field for equality, joined with AND, in the order service, environment, state, creator", () => {
    expect(toFilterExpression({ creator: "users/ada", state: "FAILED", environment: "prod", service: "api" })).toBe(
      'service = "api" AND environment = "prod" AND state = DEPLOYMENT_STATE_FAILED AND creator = "users/ada"',
    );
  });

  it("writes a state as its full enum name, unquoted", () => {
    for (const state of filterableStates) {
      expect(toFilterExpression(filterOf({ state }))).toBe(`state = DEPLOYMENT_STATE_${state}`);
    }
  });

  it("trims the values it writes", () => {
    expect(toFilterExpression(filterOf({ service: "  api ", state: " SUCCEEDED " }))).toBe(
      'service = "api" AND state = DEPLOYMENT_STATE_SUCCEEDED',
    );
  });

  it("drops a state that is not a deployment state name, including UNSPECIFIED and lower case names", () => {
    for (const state of ["UNSPECIFIED", "failed", "BOGUS", "toString", "__proto__", "4", "DEPLOYMENT_STATE_FAILED"]) {
      expect(toFilterExpression(filterOf({ state })), state).toBe("");
      expect(toFilterExpression(filterOf({ service: "api", state })), state).toBe('service = "api"');
    }
  });

  it("quotes values as JSON strings, escaping quotes and backslashes", () => {
    expect(toFilterExpression(filterOf({ service: 'say "hi"' }))).toBe('service = "say \\"hi\\""');
    expect(toFilterExpression(filterOf({ service: "back\\slash" }))).toBe('service = "back\\\\slash"');
  });

  it("writes values the server reads back exactly, so quotes, backslashes and AND inside a value cannot change the filter", () => {
    const awkward = [
      'a" OR service = "b',
      'ends with a backslash \\',
      '\\" AND environment = "prod',
      "AND",
      "tab\tand\nnewline",
      "emoji 🚀 and ünïcödé",
      "(parentheses) : != = <>",
    ];
    for (const value of awkward) {
      expect(serverTerms(toFilterExpression(filterOf({ service: value, creator: value }))), value).toEqual([
        { field: "service", operator: "=", value },
        { field: "creator", operator: "=", value },
      ]);
    }
  });

  it("writes every field and state in a form the server accepts, with the same meaning", () => {
    for (const state of filterableStates) {
      const filter = { service: "api", environment: "prod", state, creator: "users/ada" };
      expect(serverTerms(toFilterExpression(filter))).toEqual([
        { field: "service", operator: "=", value: "api" },
        { field: "environment", operator: "=", value: "prod" },
        { field: "state", operator: "=", value: DeploymentState[state] },
        { field: "creator", operator: "=", value: "users/ada" },
      ]);
    }
  });
});

describe("matchesFilter", () => {
  it("matches every deployment when nothing is set", () => {
    for (const state of [DeploymentState.PENDING, DeploymentState.FAILED, DeploymentState.UNSPECIFIED]) {
      expect(matchesFilter(anyDeployment, deploymentOf({ state }))).toBe(true);
    }
  });

  it("requires an exact match on each field that is set", () => {
    const deployment = deploymentOf();
    expect(matchesFilter(filterOf({ service: "api" }), deployment)).toBe(true);
    expect(matchesFilter(filterOf({ service: "ap" }), deployment)).toBe(false);
    expect(matchesFilter(filterOf({ service: "API" }), deployment)).toBe(false);
    expect(matchesFilter(filterOf({ environment: "prod" }), deployment)).toBe(true);
    expect(matchesFilter(filterOf({ environment: "staging" }), deployment)).toBe(false);
    expect(matchesFilter(filterOf({ creator: "users/ada" }), deployment)).toBe(true);
    expect(matchesFilter(filterOf({ creator: "users/bob" }), deployment)).toBe(false);
    expect(matchesFilter(filterOf({ state: "IN_PROGRESS" }), deployment)).toBe(true);
    expect(matchesFilter(filterOf({ state: "SUCCEEDED" }), deployment)).toBe(false);
  });

  it("requires every set field to match", () => {
    const filter = { service: "api", environment: "prod", state: "IN_PROGRESS", creator: "users/ada" };
    expect(matchesFilter(filter, deploymentOf())).toBe(true);
    expect(matchesFilter(filter, deploymentOf({ service: "web" }))).toBe(false);
    expect(matchesFilter(filter, deploymentOf({ environment: "staging" }))).toBe(false);
    expect(matchesFilter(filter, deploymentOf({ state: DeploymentState.FAILED }))).toBe(false);
    expect(matchesFilter(filter, deploymentOf({ creator: "users/bob" }))).toBe(false);
  });

  it("trims filter values as toFilterExpression does", () => {
    expect(matchesFilter(filterOf({ service: " api ", environment: "prod  ", state: " IN_PROGRESS" }), deploymentOf())).toBe(true);
  });

  it("ignores a state that is not a deployment state name, as toFilterExpression does", () => {
    for (const state of ["UNSPECIFIED", "failed", "BOGUS"]) {
      expect(matchesFilter(filterOf({ state }), deploymentOf({ state: DeploymentState.SUCCEEDED })), state).toBe(true);
    }
  });
});

describe("filter in the URL query", () => {
  it("reads nothing set from an empty query", () => {
    expect(filterFromQuery(new URLSearchParams())).toEqual(anyDeployment);
  });

  it("reads each field from its own parameter, trimmed, ignoring other parameters", () => {
    expect(filterFromQuery(new URLSearchParams("service=+api+&environment=prod&state=FAILED&creator=users%2Fada&page=3"))).toEqual({
      service: "api",
      environment: "prod",
      state: "FAILED",
      creator: "users/ada",
    });
  });

  it("drops an unknown state and keeps the other fields", () => {
    for (const state of ["BOGUS", "failed", "UNSPECIFIED", "DEPLOYMENT_STATE_FAILED", "constructor"]) {
      expect(filterFromQuery(new URLSearchParams({ service: "api", state })), state).toEqual(filterOf({ service: "api" }));
    }
  });

  it("writes only the fields that are set, trimmed, so links stay short", () => {
    expect(filterToQuery(anyDeployment).toString()).toBe("");
    expect(filterToQuery(filterOf({ service: " api ", environment: "   " })).toString()).toBe("service=api");
    expect(filterToQuery({ service: "api", environment: "prod", state: "FAILED", creator: "users/ada" }).toString()).toBe(
      "service=api&environment=prod&state=FAILED&creator=users%2Fada",
    );
  });

  it("round-trips any filter with a known state, including values with quotes, backslashes, & and =", () => {
    const filters: DeploymentFilter[] = [
      anyDeployment,
      filterOf({ state: "SUPERSEDED" }),
      { service: 'a "quoted" & weird = name', environment: "back\\slash", state: "CANCELLING", creator: "users/ada+1?#" },
      { service: "ünïcödé 🚀", environment: "prod", state: "", creator: "" },
    ];
    for (const filter of filters) {
      const query = new URLSearchParams(filterToQuery(filter).toString());
      expect(filterFromQuery(query)).toEqual(filter);
      expect(toFilterExpression(filterFromQuery(query))).toBe(toFilterExpression(filter));
    }
  });

  it("leaves out an unknown state that was written to the query when reading it back", () => {
    const query = filterToQuery(filterOf({ service: "api", state: "BOGUS" }));
    expect(filterFromQuery(query)).toEqual(filterOf({ service: "api" }));
  });
});
