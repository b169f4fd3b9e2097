import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeploymentEventType as EventType,
  DeploymentState as State,
  type Deployment,
} from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { decideCancel, decideCancelTimeout, decideReport, type ProgressReport } from "../../services/deployments/changes.js";
import {
  assertProgress,
  assertTransition,
  canTransition,
  isUnfinished,
  transitions,
  type Actor,
} from "../../services/deployments/state-machine.js";
import type { DeploymentRecord } from "../../services/deployments/store/types.js";
import { DomainError } from "../../services/kit/errors.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import {
  createDeployment,
  deploymentIn,
  driveTo,
  pollUntil,
  recordOf,
  routeTo,
  stateName,
  storedStates,
  takeStep,
  uniqueService,
  type DeploymentDriver,
} from "../support/deployment-states.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { createTestUser } from "../support/test-users.js";
import { admin } from "../support/users-service.js";

// Every expectation below is derived from the `transitions` table in
// services/deployments/state-machine.ts: nothing lists legal moves by hand.

const actors: readonly Actor[] = ["agent", "user", "system"];
/** Every enum value, UNSPECIFIED included: the table must refuse it too. */
const allStates: readonly State[] = [State.UNSPECIFIED, ...storedStates];
const inTable = (from: State, to: State, actor: Actor) => transitions.some(([f, t, a]) => f === from && t === to && a === actor);
const arrow = (from: State, to: State) => `${State[from]} → ${State[to]}`;

/** What a refused transition throws, as a comparable value. */
function refusal(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { kind: error.kind, reason: error.reason, metadata: error.metadata, message: error.message, violations: error.violations };
  }
  return "allowed";
}

/** The refusal of an illegal transition: both states named, in the metadata and the message. */
function transitionRefusal(from: State, to: State) {
  return {
    kind: "failed-precondition",
    reason: "INVALID_STATE_TRANSITION",
    metadata: { from: stateName(from), to: stateName(to) },
    message: expect.stringMatching(new RegExp(`\\b${State[from]}\\b[\\s\\S]*\\b${State[to]}\\b`)),
    violations: [],
  };
}

const created = new Date("2026-01-01T00:00:00Z");
const now = new Date("2026-01-01T00:10:00Z");

/** A stored deployment in `state`, with the times a deployment in that state would have. */
function record(state: State, overrides: Partial<DeploymentRecord> = {}): DeploymentRecord {
  const started = state === State.PENDING ? null : new Date("2026-01-01T00:01:00Z");
  return {
    id: "d1",
    service: "checkout",
    version: "1.0.0",
    environment: "staging",
    description: "",
    labels: {},
    state,
    progressPercent: 0,
    statusMessage: "",
    logUrl: "",
    creator: "users/u1",
    rollbackOf: null,
    createTime: created,
    updateTime: created,
    startTime: started,
    endTime: isUnfinished(state) ? null : new Date("2026-01-01T00:05:00Z"),
    revision: 1,
    generation: 1,
    ...overrides,
  };
}

const report = (overrides: Partial<ProgressReport>): ProgressReport => ({
  state: State.UNSPECIFIED,
  progressPercent: 0,
  statusMessage: "",
  logUrl: "",
  ...overrides,
});

describe("the transition table", () => {
  const cells = allStates.flatMap((from) =>
    allStates.flatMap((to) =>
      actors.map((actor) => ({ from, to, actor, legal: inTable(from, to, actor), title: `${arrow(from, to)} by ${actor}` })),
    ),
  );

  it("lists each transition once, and never one into or out of UNSPECIFIED, nor one to the same state", () => {
    const keys = transitions.map(([f, t, a]) => `${f}-${t}-${a}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const [from, to] of transitions) {
      expect([from, to]).not.toContain(State.UNSPECIFIED);
      expect(from).not.toBe(to);
    }
  });

  it("reaches every stored state from PENDING", () => {
    const reachable = new Set<State>([State.PENDING]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [from, to] of transitions) {
        if (reachable.has(from) && !reachable.has(to)) {
          reachable.add(to);
          grew = true;
        }
      }
    }
    expect([...reachable].sort()).toEqual([...storedStates].sort());
  });

  it.each(cells.filter((c) => c.legal))("allows $title", ({ from, to, actor }) => {
    expect(canTransition(from, to, actor)).toBe(true);
    expect(refusal(() => assertTransition(from, to, actor))).toBe("allowed");
  });

  it.each(cells.filter((c) => !c.legal))("refuses $title with FAILED_PRECONDITION INVALID_STATE_TRANSITION naming both states", ({ from, to, actor }) => {
    expect(canTransition(from, to, actor)).toBe(false);
    expect(refusal(() => assertTransition(from, to, actor))).toEqual(transitionRefusal(from, to));
  });
});

describe("progress never goes backwards and stays within 0–100", () => {
  const cases = [0, 1, 50, 99, 100].flatMap((current) =>
    [-1, 0, 1, 49, 50, 51, 99, 100, 101].map((next) => {
      const expected = next < 0 || next > 100 ? "PROGRESS_OUT_OF_RANGE" : next < current ? "PROGRESS_BACKWARDS" : "allowed";
      return { current, next, expected, title: `${current}% → ${next}% is ${expected}` };
    }),
  );

  it.each(cases)("$title", ({ current, next, expected }) => {
    const outcome = refusal(() => assertProgress(current, next));
    if (expected === "allowed") {
      expect(outcome).toBe("allowed");
      return;
    }
    expect(outcome).toMatchObject({
      kind: "invalid-argument",
      reason: expected,
      violations: [{ field: "progress_percent", reason: expected }],
    });
  });
});

describe("decideReport: what an agent's report changes", () => {
  const agentSteps = transitions.filter(([, , actor]) => actor === "agent");

  it.each(agentSteps.map(([from, to]) => ({ from, to, title: arrow(from, to) })))(
    "$title is a STATE_CHANGED event by the agent",
    ({ from, to }) => {
      const current = record(from, { progressPercent: 10 });
      const change = decideReport(current, report({ state: to }), "users/agent", now);
      expect(change?.patch.state).toBe(to);
      expect(change?.event).toEqual({ type: EventType.STATE_CHANGED, message: "", actor: "users/agent" });
    },
  );

  it.each(
    allStates.flatMap((from) =>
      allStates
        .filter((to) => to !== State.UNSPECIFIED && !inTable(from, to, "agent") && !(from === to && isUnfinished(from)))
        .map((to) => ({ from, to, title: arrow(from, to) })),
    ),
  )("$title by report is refused naming both states", ({ from, to }) => {
    expect(refusal(() => decideReport(record(from), report({ state: to, progressPercent: 100 }), "users/agent", now))).toEqual(
      transitionRefusal(from, to),
    );
  });

  it.each(storedStates.filter((s) => !isUnfinished(s)).map((state) => ({ state, name: State[state] })))(
    "a progress-only report on a finished ($name) deployment is refused",
    ({ state }) => {
      expect(refusal(() => decideReport(record(state), report({ statusMessage: "still here" }), "users/agent", now))).toEqual(
        transitionRefusal(state, state),
      );
    },
  );

  it("SUCCEEDED forces progress to 100%, whatever the report said", () => {
    for (const progressPercent of [0, 40, 99]) {
      const change = decideReport(record(State.IN_PROGRESS, { progressPercent: 30 }), report({ state: State.SUCCEEDED, progressPercent }), "a", now);
      expect(change?.patch.progressPercent, `reported ${progressPercent}`).toBe(100);
    }
  });

  it("entering IN_PROGRESS stamps the start time once", () => {
    const change = decideReport(record(State.PENDING), report({ state: State.IN_PROGRESS }), "a", now);
    expect(change?.patch).toMatchObject({ startTime: now });
    expect(change?.patch.endTime).toBeUndefined();
  });

  it.each(agentSteps.filter(([, to]) => !isUnfinished(to)).map(([from, to]) => ({ from, to, title: arrow(from, to) })))(
    "$title stamps the end time",
    ({ from, to }) => {
      expect(decideReport(record(from), report({ state: to }), "a", now)?.patch.endTime).toEqual(now);
    },
  );

  it.each(agentSteps.filter(([, to]) => isUnfinished(to)).map(([from, to]) => ({ from, to, title: arrow(from, to) })))(
    "$title leaves the end time unset",
    ({ from, to }) => {
      expect(decideReport(record(from), report({ state: to }), "a", now)?.patch.endTime).toBeUndefined();
    },
  );

  it("progress within a state is a PROGRESS event carrying the message and log URL", () => {
    const change = decideReport(
      record(State.IN_PROGRESS, { progressPercent: 10 }),
      report({ progressPercent: 40, statusMessage: "halfway", logUrl: "https://logs.example.com/1" }),
      "users/agent",
      now,
    );
    expect(change).toEqual({
      patch: { state: State.IN_PROGRESS, progressPercent: 40, statusMessage: "halfway", logUrl: "https://logs.example.com/1" },
      event: { type: EventType.PROGRESS, message: "halfway", actor: "users/agent" },
    });
  });

  it.each(storedStates.filter(isUnfinished).map((state) => ({ state, name: State[state] })))(
    "a report that changes nothing on a $name deployment returns undefined (writes nothing)",
    ({ state }) => {
      const current = record(state, { progressPercent: 30, statusMessage: "ok", logUrl: "https://logs.example.com/1" });
      expect(decideReport(current, report({}), "a", now)).toBeUndefined();
      // Reporting IN_PROGRESS claims a deployment, so a second claim is refused rather than ignored.
      if (state !== State.IN_PROGRESS) expect(decideReport(current, report({ state }), "a", now)).toBeUndefined();
      expect(decideReport(current, report({ progressPercent: 30, statusMessage: "ok", logUrl: "https://logs.example.com/1" }), "a", now)).toBeUndefined();
    },
  );

  it("progress 0 keeps the current progress; a lower one is refused as PROGRESS_BACKWARDS", () => {
    expect(decideReport(record(State.IN_PROGRESS, { progressPercent: 50 }), report({ statusMessage: "x" }), "a", now)?.patch.progressPercent).toBe(50);
    expect(refusal(() => decideReport(record(State.IN_PROGRESS, { progressPercent: 50 }), report({ progressPercent: 49 }), "a", now))).toMatchObject({
      kind: "invalid-argument",
      reason: "PROGRESS_BACKWARDS",
    });
  });
});

describe("decideCancel: what a person's cancel changes", () => {
  const userSteps = transitions.filter(([, , actor]) => actor === "user");

  it.each(userSteps.map(([from, to]) => ({ from, to, title: arrow(from, to) })))("cancelling goes $title", ({ from, to }) => {
    const change = decideCancel(record(from), "wrong build", "users/u2", now);
    expect(change?.patch.state).toBe(to);
    expect(change?.event).toEqual({
      type: to === State.CANCELLING ? EventType.CANCEL_REQUESTED : EventType.STATE_CHANGED,
      message: "wrong build",
      actor: "users/u2",
    });
    if (isUnfinished(to)) expect(change?.patch.endTime).toBeUndefined();
    else expect(change?.patch.endTime).toEqual(now);
  });

  it("cancelling a CANCELLING deployment again is a no-op", () => {
    expect(decideCancel(record(State.CANCELLING), "again", "users/u2", now)).toBeUndefined();
  });

  it.each(
    allStates
      .filter((from) => from !== State.CANCELLING && !userSteps.some(([f]) => f === from))
      .map((from) => ({ from, name: State[from] })),
  )("cancelling a $name deployment is refused naming its state", ({ from }) => {
    expect(refusal(() => decideCancel(record(from), "", "users/u2", now))).toMatchObject({
      kind: "failed-precondition",
      reason: "INVALID_STATE_TRANSITION",
      metadata: { from: stateName(from) },
    });
  });
});

describe("decideCancelTimeout: the system ends cancellations nobody confirmed", () => {
  it.each(allStates.map((state) => ({ state, name: State[state], legal: inTable(state, State.CANCELLED, "system") })))(
    "$name: changes only when the table lets the system cancel it",
    ({ state, legal }) => {
      const change = decideCancelTimeout(record(state), now);
      if (!legal) {
        expect(change).toBeUndefined();
        return;
      }
      expect(change).toEqual({
        patch: { state: State.CANCELLED, endTime: now },
        event: { type: EventType.STATE_CHANGED, message: expect.any(String), actor: "system" },
      });
    },
  );
});

describe("over gRPC", () => {
  let stack: TestStack;
  let adminToken: string;
  let agentKey: string;
  let adminName: string;
  let agentName: string;
  const driver: DeploymentDriver = {
    client: () => stack.deployments.client,
    asUser: () => stack.auth(adminToken),
    asAgent: () => stack.auth(agentKey),
  };
  const client = () => stack.deployments.client;

  beforeAll(async () => {
    stack = await startTestStack();
    adminToken = await stack.users.login(admin.email, admin.password);
    adminName = (await stack.users.client.getCurrentUser({}, stack.auth(adminToken))).user!.name;
    const agent = await createTestUser(stack.users, adminToken, Role.AGENT, "agent");
    agentKey = agent.credential;
    agentName = agent.user.name;
  });
  afterAll(() => stack?.stop());

  it("every state but UNSPECIFIED can be reached through the API", () => {
    for (const state of storedStates) expect(routeTo(state), State[state]).toBeDefined();
  });

  const actorName = (actor: Actor) => (actor === "agent" ? agentName : actor === "user" ? adminName : "system");

  describe("legal transitions succeed and append one event", () => {
    const legal = transitions
      .filter(([, , actor]) => actor !== "system")
      .map(([from, to, actor]) => ({ from, to, actor, title: `${arrow(from, to)} by ${actor}` }));

    it.each(legal)("$title", async (step) => {
      const deployment = await deploymentIn(driver, step.from, `legal ${step.title}`);
      const before = await recordOf(driver, deployment.name);
      const after = await takeStep(driver, deployment, step);
      expect(State[after.state]).toBe(State[step.to]);
      expect(after.etag).not.toBe(before.deployment.etag);
      const { events } = await recordOf(driver, deployment.name);
      expect(events).toHaveLength(before.events.length + 1);
      expect(events.at(-1)).toMatchObject({ state: step.to, actor: actorName(step.actor), sequence: BigInt(before.events.length + 1) });
    });
  });

  describe("illegal transitions are refused and change nothing", () => {
    const agentCases = storedStates.flatMap((from) =>
      storedStates
        // Reporting the current state of an unfinished deployment is a progress report, not a transition.
        .filter((to) => !inTable(from, to, "agent") && !(from === to && isUnfinished(from)))
        .map((to) => ({ from, to, title: `an agent reporting ${arrow(from, to)}` })),
    );
    const cancelCases = storedStates
      .filter((from) => !transitions.some(([f, , a]) => f === from && a === "user") && from !== State.CANCELLING)
      .map((from) => ({ from, title: `a user cancelling a ${State[from]} deployment` }));

    it.each(agentCases)("$title → FAILED_PRECONDITION INVALID_STATE_TRANSITION", async ({ from, to }) => {
      const deployment = await deploymentIn(driver, from, `agent ${State[from]} ${State[to]}`);
      const before = await recordOf(driver, deployment.name);
      const failure = await expectGrpcError(
        client().reportDeploymentProgress({ name: deployment.name, state: to, progressPercent: 100 }, driver.asAgent()),
        Status.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
      );
      expect(failure.metadata).toEqual({ from: stateName(from), to: stateName(to) });
      expect(await recordOf(driver, deployment.name)).toEqual(before);
    });

    it.each(cancelCases)("$title → FAILED_PRECONDITION INVALID_STATE_TRANSITION", async ({ from }) => {
      const deployment = await deploymentIn(driver, from, `cancel ${State[from]}`);
      const before = await recordOf(driver, deployment.name);
      const failure = await expectGrpcError(
        client().cancelDeployment({ name: deployment.name, reason: "too late" }, driver.asUser()),
        Status.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
      );
      expect(failure.metadata.from).toBe(stateName(from));
      expect(failure.metadata.to).toMatch(/^DEPLOYMENT_STATE_[A-Z_]+$/);
      expect(await recordOf(driver, deployment.name)).toEqual(before);
    });

    it.each(storedStates.filter((s) => !isUnfinished(s)).map((state) => ({ state, name: State[state] })))(
      "a progress-only report on a $name deployment is refused and changes nothing",
      async ({ state }) => {
        const deployment = await deploymentIn(driver, state, `progress on ${State[state]}`);
        const before = await recordOf(driver, deployment.name);
        await expectGrpcError(
          client().reportDeploymentProgress({ name: deployment.name, statusMessage: "late news" }, driver.asAgent()),
          Status.FAILED_PRECONDITION,
          "INVALID_STATE_TRANSITION",
        );
        expect(await recordOf(driver, deployment.name)).toEqual(before);
      },
    );
  });

  it("reporting IN_PROGRESS again is refused: the first report claimed the deployment for one agent", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "claimed twice");
    const before = await recordOf(driver, deployment.name);
    await expectGrpcError(
      client().reportDeploymentProgress({ name: deployment.name, state: State.IN_PROGRESS }, driver.asAgent()),
      Status.FAILED_PRECONDITION,
      "INVALID_STATE_TRANSITION",
    );
    expect(await recordOf(driver, deployment.name)).toEqual(before);
  });

  it.each(storedStates.filter((state) => isUnfinished(state) && state !== State.IN_PROGRESS).map((state) => ({ state, name: State[state] })))(
    "reporting the current state of a $name deployment with nothing new changes nothing",
    async ({ state }) => {
      const deployment = await deploymentIn(driver, state, `same ${State[state]}`);
      const before = await recordOf(driver, deployment.name);
      const { deployment: after } = await client().reportDeploymentProgress({ name: deployment.name, state }, driver.asAgent());
      expect(after).toEqual(before.deployment);
      expect(await recordOf(driver, deployment.name)).toEqual(before);
    },
  );

  it("cancelling a CANCELLING deployment again is a no-op: same etag, no event", async () => {
    const deployment = await deploymentIn(driver, State.CANCELLING, "cancel twice");
    const before = await recordOf(driver, deployment.name);
    const { deployment: again } = await client().cancelDeployment({ name: deployment.name, reason: "again" }, driver.asUser());
    expect(again).toEqual(before.deployment);
    expect(await recordOf(driver, deployment.name)).toEqual(before);
  });

  it("progress going backwards → INVALID_ARGUMENT PROGRESS_BACKWARDS on progress_percent, and nothing changes", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "backwards");
    await client().reportDeploymentProgress({ name: deployment.name, progressPercent: 50, statusMessage: "half" }, driver.asAgent());
    const before = await recordOf(driver, deployment.name);
    const failure = await expectGrpcError(
      client().reportDeploymentProgress({ name: deployment.name, progressPercent: 40, statusMessage: "oops" }, driver.asAgent()),
      Status.INVALID_ARGUMENT,
      "PROGRESS_BACKWARDS",
    );
    expect(failure.fields).toEqual(["progress_percent"]);
    expect(await recordOf(driver, deployment.name)).toEqual(before);
    expect(before.deployment).toMatchObject({ progressPercent: 50, statusMessage: "half" });
  });

  it("SUCCEEDED reports 100% over gRPC and stamps start and end times", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "succeeds");
    await client().reportDeploymentProgress({ name: deployment.name, progressPercent: 30 }, driver.asAgent());
    const { deployment: done } = await client().reportDeploymentProgress({ name: deployment.name, state: State.SUCCEEDED }, driver.asAgent());
    expect(done).toMatchObject({ state: State.SUCCEEDED, progressPercent: 100 });
    expect(done?.startTime).toBeDefined();
    expect(done?.endTime).toBeDefined();
  });

  it("a SUCCEEDED deployment is SUPERSEDED (by the system) by a newer success of the same service and environment only", async () => {
    const service = uniqueService("supersede");
    const otherService = uniqueService("supersede other");
    const ship = async (svc: string, environment: string, version: string, state: State) =>
      driveTo(driver, await createDeployment(driver, svc, environment, version), state);
    const v1 = await ship(service, "production", "1.0.0", State.SUCCEEDED);
    const staging = await ship(service, "staging", "1.0.0", State.SUCCEEDED);
    const other = await ship(otherService, "production", "1.0.0", State.SUCCEEDED);
    const failed = await ship(service, "production", "1.5.0", State.FAILED);
    const beforeV2 = await recordOf(driver, v1.name);
    const v2 = await ship(service, "production", "2.0.0", State.SUCCEEDED);

    const after = await recordOf(driver, v1.name);
    expect(State[after.deployment.state]).toBe(State[State.SUPERSEDED]);
    expect(canTransition(State.SUCCEEDED, State.SUPERSEDED, "system")).toBe(true);
    expect(after.events).toHaveLength(beforeV2.events.length + 1);
    expect(after.events.at(-1)).toMatchObject({
      type: EventType.SUPERSEDED,
      state: State.SUPERSEDED,
      actor: "system",
      message: expect.stringContaining(v2.name),
    });
    expect(after.deployment.endTime).toEqual(beforeV2.deployment.endTime);
    for (const untouched of [staging, other, failed, v2]) {
      const { deployment } = await recordOf(driver, untouched.name);
      expect(deployment, untouched.name).toEqual(untouched);
    }

    // A third success supersedes the second; the first, already SUPERSEDED, is left alone.
    const v3 = await ship(service, "production", "3.0.0", State.SUCCEEDED);
    expect((await recordOf(driver, v2.name)).deployment.state).toBe(State.SUPERSEDED);
    expect(await recordOf(driver, v1.name)).toEqual(after);
    expect((await recordOf(driver, v3.name)).deployment.state).toBe(State.SUCCEEDED);
  });
});

describe("the cancel timeout (LAUNCHPAD_CANCEL_TIMEOUT=1s)", () => {
  let stack: TestStack;
  let adminToken: string;
  let agentKey: string;
  const driver: DeploymentDriver = {
    client: () => stack.deployments.client,
    asUser: () => stack.auth(adminToken),
    asAgent: () => stack.auth(agentKey),
  };

  beforeAll(async () => {
    stack = await startTestStack({ deployments: { LAUNCHPAD_CANCEL_TIMEOUT: "1s" } });
    adminToken = await stack.users.login(admin.email, admin.password);
    agentKey = (await createTestUser(stack.users, adminToken, Role.AGENT, "agent")).credential;
  });
  afterAll(() => stack?.stop());

  it("a CANCELLING deployment no agent confirms becomes CANCELLED by actor system; other states are left alone", async () => {
    expect(canTransition(State.CANCELLING, State.CANCELLED, "system")).toBe(true);
    const bystanders: Deployment[] = [];
    for (const state of storedStates.filter((s) => s !== State.CANCELLING)) {
      bystanders.push(await deploymentIn(driver, state, `bystander ${State[state]}`));
    }
    const deployment = await deploymentIn(driver, State.CANCELLING, "times out");
    const before = await recordOf(driver, deployment.name);

    const after = await pollUntil(() => recordOf(driver, deployment.name), (r) => r.deployment.state !== State.CANCELLING, 20_000);
    expect(State[after.deployment.state]).toBe(State[State.CANCELLED]);
    expect(after.deployment.endTime).toBeDefined();
    expect(after.events).toHaveLength(before.events.length + 1);
    expect(after.events.at(-1)).toMatchObject({ type: EventType.STATE_CHANGED, state: State.CANCELLED, actor: "system" });

    // The sweep that cancelled it saw every other deployment too, and left them as they were.
    for (const bystander of bystanders) {
      expect((await recordOf(driver, bystander.name)).deployment, State[bystander.state]).toEqual(bystander);
    }

    // The agent's confirmation, arriving late, is an illegal CANCELLED → CANCELLED and changes nothing.
    await expectGrpcError(
      driver.client().reportDeploymentProgress({ name: deployment.name, state: State.CANCELLED }, driver.asAgent()),
      Status.FAILED_PRECONDITION,
      "INVALID_STATE_TRANSITION",
    );
    expect(await recordOf(driver, deployment.name)).toEqual(after);
  });
});
