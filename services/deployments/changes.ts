import {
  DeploymentEventType as EventType,
  DeploymentState as State,
} from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { assertProgress, assertTransition, isUnfinished } from "./state-machine.js";
import type { DeploymentChange, DeploymentRecord } from "./store/types.js";

/** What a deploy agent reported. */
export interface ProgressReport {
  /** UNSPECIFIED keeps the current state. */
  state: State;
  /** 0 keeps the current progress. */
  progressPercent: number;
  statusMessage: string;
  logUrl: string;
}

/** Times a state change stamps: the start of the rollout, the end of the deployment. */
function stamps(current: DeploymentRecord, next: State, now: Date): DeploymentChange["patch"] {
  if (next === State.IN_PROGRESS && current.startTime === null) return { startTime: now };
  if (!isUnfinished(next) && next !== State.SUPERSEDED) return { endTime: now };
  return {};
}

/**
 * The change an agent's report makes: a legal state transition and/or
 * progress that never goes backwards (SUCCEEDED is 100%). A report that
 * changes nothing writes nothing.
 */
export function decideReport(current: DeploymentRecord, report: ProgressReport, actor: string, now: Date): DeploymentChange | undefined {
  const state = report.state === State.UNSPECIFIED ? current.state : report.state;
  const changesState = state !== current.state;
  // Reporting IN_PROGRESS claims a PENDING deployment; only the first claim is
  // legal, so of several agents exactly one drives it.
  if (changesState || report.state === State.IN_PROGRESS || !isUnfinished(current.state)) {
    assertTransition(current.state, state, "agent");
  }
  let progressPercent = report.progressPercent === 0 ? current.progressPercent : report.progressPercent;
  assertProgress(current.progressPercent, progressPercent);
  if (state === State.SUCCEEDED) progressPercent = 100;
  const patch: DeploymentChange["patch"] = { state, progressPercent, ...(changesState ? stamps(current, state, now) : {}) };
  if (report.statusMessage !== "") patch.statusMessage = report.statusMessage;
  if (report.logUrl !== "") patch.logUrl = report.logUrl;
  const unchanged =
    !changesState &&
    progressPercent === current.progressPercent &&
    (patch.statusMessage ?? current.statusMessage) === current.statusMessage &&
    (patch.logUrl ?? current.logUrl) === current.logUrl;
  if (unchanged) return undefined;
  return {
    patch,
    event: {
      type: changesState ? EventType.STATE_CHANGED : EventType.PROGRESS,
      message: report.statusMessage,
      actor,
    },
  };
}

/**
 * The change a cancel request makes: PENDING stops at once, IN_PROGRESS
 * waits for the agent (CANCELLING); asking again while CANCELLING changes
 * nothing. Finished deployments cannot be cancelled.
 */
export function decideCancel(current: DeploymentRecord, reason: string, actor: string, now: Date): DeploymentChange | undefined {
  if (current.state === State.CANCELLING) return undefined;
  const next = current.state === State.PENDING ? State.CANCELLED : State.CANCELLING;
  assertTransition(current.state, next, "user");
  return {
    patch: { state: next, ...stamps(current, next, now) },
    event: {
      type: next === State.CANCELLING ? EventType.CANCEL_REQUESTED : EventType.STATE_CHANGED,
      message: reason,
      actor,
    },
  };
}

/** The change when an agent never confirmed a cancellation in time. */
export function decideCancelTimeout(current: DeploymentRecord, now: Date): DeploymentChange | undefined {
  if (current.state !== State.CANCELLING) return undefined;
  assertTransition(current.state, State.CANCELLED, "system");
  return {
    patch: { state: State.CANCELLED, endTime: now },
    event: { type: EventType.STATE_CHANGED, message: "the agent did not confirm the cancellation in time", actor: "system" },
  };
}
