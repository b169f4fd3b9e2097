import type { CallOptions } from "nice-grpc";
import { expect } from "vitest";
import { DeploymentState as State, type Deployment, type DeploymentEvent } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { transitions, type Actor } from "../../services/deployments/state-machine.js";
import type { DeploymentClient } from "./deployments-service.js";

/** Every stored deployment state: the enum's values but UNSPECIFIED. */
export const storedStates: readonly State[] = Object.values(State).filter(
  (value): value is State => typeof value === "number" && value !== State.UNSPECIFIED,
);

/** A state as the contract spells it, e.g. "DEPLOYMENT_STATE_PENDING". */
export const stateName = (state: State) => `DEPLOYMENT_STATE_${State[state]}`;

/** One transition of the table: who moves a deployment from one state to another. */
export interface Step {
  from: State;
  to: State;
  actor: Actor;
}

/**
 * The system transitions a test can trigger through the API: a newer
 * success supersedes the previous one. (CANCELLING → CANCELLED by the system
 * needs a cancel timeout, which a test drives with its own stack.)
 */
const triggerableBySystem = (step: Step) => step.from === State.SUCCEEDED && step.to === State.SUPERSEDED;

/**
 * The shortest route through the transition table from PENDING (where every
 * deployment starts) to `state`, using only steps the API can drive: agent
 * reports, user cancels, and superseding. Undefined when there is none.
 */
export function routeTo(state: State): Step[] | undefined {
  const steps = transitions
    .map(([from, to, actor]) => ({ from, to, actor }))
    .filter((step) => step.actor !== "system" || triggerableBySystem(step));
  const routes = new Map<State, Step[]>([[State.PENDING, []]]);
  const queue: State[] = [State.PENDING];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const step of steps.filter((s) => s.from === at && !routes.has(s.to))) {
      routes.set(step.to, [...routes.get(at)!, step]);
      queue.push(step.to);
    }
  }
  return routes.get(state);
}

/** A client and the credentials of the two kinds of actor a deployment answers to. */
export interface DeploymentDriver {
  client: () => DeploymentClient;
  /** A person allowed to create and cancel everywhere (an admin). */
  asUser: () => CallOptions;
  /** A deploy agent (ROLE_AGENT service account, API key). */
  asAgent: () => CallOptions;
}

let serial = 0;

/** A service name no other test uses, so the one-unfinished-per-service+environment rule never interferes. */
export function uniqueService(label: string): string {
  serial += 1;
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return `${slug.slice(0, 40)}-${process.pid % 10_000}-${serial}`.replace(/^-/, "s-");
}

/** Creates a PENDING deployment of `service` as the user. */
export async function createDeployment(
  driver: DeploymentDriver,
  service: string,
  environment = "staging",
  version = "1.0.0",
): Promise<Deployment> {
  const { deployment } = await driver.client().createDeployment({ deployment: { service, version, environment } }, driver.asUser());
  return deployment!;
}

/** Makes one step of the table happen through the API, and returns the deployment after it. */
export async function takeStep(driver: DeploymentDriver, deployment: Deployment, step: Step): Promise<Deployment> {
  switch (step.actor) {
    case "agent":
      return (await driver.client().reportDeploymentProgress({ name: deployment.name, state: step.to }, driver.asAgent())).deployment!;
    case "user":
      return (await driver.client().cancelDeployment({ name: deployment.name }, driver.asUser())).deployment!;
    case "system": {
      if (!triggerableBySystem(step)) throw new Error(`no API call makes the system go ${State[step.from]} → ${State[step.to]}`);
      await driveTo(driver, await createDeployment(driver, deployment.service, deployment.environment, `${deployment.version}-next`), State.SUCCEEDED);
      return (await driver.client().getDeployment({ name: deployment.name }, driver.asUser())).deployment!;
    }
  }
}

/** Drives a deployment from PENDING to `state` along routeTo(state), checking each step lands where the table says. */
export async function driveTo(driver: DeploymentDriver, deployment: Deployment, state: State): Promise<Deployment> {
  const route = routeTo(state);
  if (!route) throw new Error(`no route through the API from PENDING to ${State[state]}`);
  let current = deployment;
  for (const step of route) {
    current = await takeStep(driver, current, step);
    expect(State[current.state], `${State[step.from]} → ${State[step.to]} by ${step.actor}`).toBe(State[step.to]);
  }
  return current;
}

/** A new deployment of a service of its own, driven to `state`. */
export async function deploymentIn(driver: DeploymentDriver, state: State, label: string, environment = "staging"): Promise<Deployment> {
  return driveTo(driver, await createDeployment(driver, uniqueService(label), environment), state);
}

/** A deployment and its history, as an admin sees them: what a refused call must leave untouched. */
export async function recordOf(driver: DeploymentDriver, name: string): Promise<{ deployment: Deployment; events: DeploymentEvent[] }> {
  const { deployment } = await driver.client().getDeployment({ name }, driver.asUser());
  const { events } = await driver.client().listDeploymentEvents({ parent: name, pageSize: 1000 }, driver.asUser());
  return { deployment: deployment!, events };
}

/** Polls `probe` until `done` holds of its value, at most `withinMs`; returns the last value either way. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, withinMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
