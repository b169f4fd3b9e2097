import { DeploymentState as State } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DomainError } from "../kit/errors.js";

/** Who asks for a transition: a deploy agent's report, a person's request, or the service itself. */
export type Actor = "agent" | "user" | "system";

/**
 * Every legal transition and who may make it. Anything not listed is
 * refused with FAILED_PRECONDITION / INVALID_STATE_TRANSITION.
 */
export const transitions: ReadonlyArray<readonly [from: State, to: State, actor: Actor]> = [
  [State.PENDING, State.IN_PROGRESS, "agent"],
  [State.PENDING, State.FAILED, "agent"],
  [State.PENDING, State.CANCELLED, "user"],
  [State.IN_PROGRESS, State.SUCCEEDED, "agent"],
  [State.IN_PROGRESS, State.FAILED, "agent"],
  [State.IN_PROGRESS, State.CANCELLING, "user"],
  [State.CANCELLING, State.CANCELLED, "agent"],
  [State.CANCELLING, State.FAILED, "agent"],
  [State.CANCELLING, State.CANCELLED, "system"],
  [State.SUCCEEDED, State.SUPERSEDED, "system"],
];

/** States in which a deployment still occupies its service and environment. */
export const unfinishedStates: readonly State[] = [State.PENDING, State.IN_PROGRESS, State.CANCELLING];

/** Whether a deployment in this state still occupies its service and environment. */
export function isUnfinished(state: State): boolean {
  return unfinishedStates.includes(state);
}

/** Whether `actor` may move a deployment from `from` to `to`. */
export function canTransition(from: State, to: State, actor: Actor): boolean {
  return transitions.some(([f, t, a]) => f === from && t === to && a === actor);
}

/** Throws FAILED_PRECONDITION / INVALID_STATE_TRANSITION unless the transition is legal. */
export function assertTransition(from: State, to: State, actor: Actor): void {
  if (canTransition(from, to, actor)) return;
  throw new DomainError(
    "failed-precondition",
    "INVALID_STATE_TRANSITION",
    `a deployment cannot go from ${State[from]} to ${State[to]}${actor === "user" ? "" : ` by ${actor} report`}`,
    { metadata: { from: `DEPLOYMENT_STATE_${State[from]}`, to: `DEPLOYMENT_STATE_${State[to]}` } },
  );
}

/**
 * Throws INVALID_ARGUMENT unless `next` is a percentage no lower than
 * `current`: progress never goes backwards.
 */
export function assertProgress(current: number, next: number): void {
  if (next < 0 || next > 100) {
    throw new DomainError("invalid-argument", "PROGRESS_OUT_OF_RANGE", "progress_percent must be from 0 to 100", {
      violations: [{ field: "progress_percent", description: "must be from 0 to 100", reason: "PROGRESS_OUT_OF_RANGE" }],
    });
  }
  if (next < current) {
    throw new DomainError("invalid-argument", "PROGRESS_BACKWARDS", `progress cannot go back from ${current}% to ${next}%`, {
      violations: [{ field: "progress_percent", description: `must be at least ${current}`, reason: "PROGRESS_BACKWARDS" }],
      metadata: { current: String(current) },
    });
  }
}
