import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  DeploymentEventType as EventType,
  DeploymentState as State,
} from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { openDeploymentStore } from "../../services/deployments/store/index.js";
import type {
  DeploymentChange,
  DeploymentOrder,
  DeploymentRecord,
  DeploymentStore,
  EventRecord,
  NewDeployment,
} from "../../services/deployments/store/types.js";
import { DomainError } from "../../services/kit/errors.js";
import type { FilterTerm } from "../../services/kit/filter.js";
import { storeTargets, type StoreLocation } from "../support/databases.js";
import { domainError } from "../support/domain-errors.js";
import { at } from "../support/fixture-time.js";
import { newDeployments } from "./new-deployments.js";

const aDeployment = newDeployments("dep");

/** A decide() moving the deployment to `state`, as the agent reports it. */
function to(state: State, patch: DeploymentChange["patch"] = {}) {
  return (): DeploymentChange => ({
    patch: { state, ...patch },
    event: { type: EventType.STATE_CHANGED, message: `now ${State[state]}`, actor: "users/agent" },
  });
}

/** A decide() adding one percent to whatever progress the deployment has when the change is decided. */
function onePercentMore(current: DeploymentRecord): DeploymentChange {
  return {
    patch: { progressPercent: current.progressPercent + 1 },
    event: { type: EventType.PROGRESS, message: `${current.progressPercent + 1}%`, actor: "users/agent" },
  };
}

const allEvents = (store: DeploymentStore) => store.eventsAfter(0, 100_000);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(await storeTargets())("DeploymentStore on $name", (target) => {
  let location: StoreLocation;
  let store: DeploymentStore;

  beforeEach(async () => {
    location = target.fresh();
    store = await openDeploymentStore(location);
  });
  afterEach(() => store.close());
  afterAll(() => target.cleanup());

  async function create(overrides: Partial<NewDeployment> = {}): Promise<DeploymentRecord> {
    return (await store.create(aDeployment(overrides), undefined)).deployment;
  }

  /** Moves a deployment through `states` in order, at `minute`. */
  async function advance(id: string, states: State[], minute = 500): Promise<DeploymentRecord> {
    let last: DeploymentRecord | undefined;
    for (const state of states) last = (await store.update(id, to(state), undefined, at(minute))).deployment;
    return last!;
  }

  async function list(filter: FilterTerm[], order: DeploymentOrder = { field: "create_time", descending: false }) {
    const { deployments, totalSize } = await store.list({ filter, order, limit: 100 });
    return { ids: deployments.map((d) => d.id), totalSize };
  }

  describe("creating and reading", () => {
    it("create stores a PENDING deployment at generation 1 with its CREATED event at the next revision", async () => {
      const input = aDeployment({ rollbackOf: "dep-old" });
      const { deployment, events, replayed } = await store.create(input, undefined);
      const expected: DeploymentRecord = {
        ...input,
        state: State.PENDING,
        progressPercent: 0,
        statusMessage: "",
        logUrl: "",
        updateTime: input.createTime,
        startTime: null,
        endTime: null,
        revision: 1,
        generation: 1,
      };
      expect(replayed).toBe(false);
      expect(deployment).toEqual(expected);
      expect(await store.get(input.id)).toEqual(expected);
      expect(events).toEqual([
        {
          deploymentId: input.id,
          sequence: 1,
          revision: 1,
          type: EventType.CREATED,
          state: State.PENDING,
          previousState: State.UNSPECIFIED,
          progressPercent: 0,
          message: expect.any(String),
          actor: "users/ada",
          createTime: input.createTime,
          deployment: expected,
        },
      ]);
      expect(await allEvents(store)).toEqual(events);
      expect(await store.get("nothing")).toBeUndefined();
    });

    it("list filters service, environment and creator with =, != and :, state with =, and joins terms with AND", async () => {
      const api = await create({ service: "api", environment: "production", creator: "users/ada" });
      const web = await create({ service: "web", environment: "production", creator: "users/grace" });
      const apiStaging = await create({ service: "api", environment: "staging", creator: "users/grace" });
      await advance(web.id, [State.IN_PROGRESS]);

      const term = (field: string, operator: FilterTerm["operator"], value: string | number): FilterTerm[] => [
        { field, operator, value },
      ];
      expect(await list(term("service", "=", "api"))).toEqual({ ids: [api.id, apiStaging.id], totalSize: 2 });
      expect((await list(term("service", "!=", "api"))).ids).toEqual([web.id]);
      expect((await list(term("environment", "=", "production"))).ids).toEqual([api.id, web.id]);
      expect((await list(term("creator", ":", "GRACE"))).ids).toEqual([web.id, apiStaging.id]);
      expect((await list(term("state", "=", State.IN_PROGRESS))).ids).toEqual([web.id]);
      expect((await list(term("state", "!=", State.IN_PROGRESS))).ids).toEqual([api.id, apiStaging.id]);
      const both = await list([...term("service", "=", "api"), ...term("creator", "=", "users/grace")]);
      expect(both).toEqual({ ids: [apiStaging.id], totalSize: 1 });
    });

    it("list filters create_time with =, !=, <, <=, > and >=", async () => {
      const a = await create({ createTime: at(10) });
      const b = await create({ createTime: at(20) });
      const c = await create({ createTime: at(30) });
      const time = async (operator: FilterTerm["operator"]) =>
        (await list([{ field: "create_time", operator, value: at(20) }])).ids;
      expect(await time("=")).toEqual([b.id]);
      expect(await time("!=")).toEqual([a.id, c.id]);
      expect(await time("<")).toEqual([a.id]);
      expect(await time("<=")).toEqual([a.id, b.id]);
      expect(await time(">")).toEqual([c.id]);
      expect(await time(">=")).toEqual([b.id, c.id]);
    });

    it("list orders by create_time or update_time, either way, then by id", async () => {
      const b = await create({ id: "b", createTime: at(1) });
      const a = await create({ id: "a", createTime: at(2) });
      const c = await create({ id: "c", createTime: at(2) });
      await store.update(b.id, to(State.IN_PROGRESS), undefined, at(9));

      const order = async (field: DeploymentOrder["field"], descending: boolean) =>
        (await list([], { field, descending })).ids;
      expect(await order("create_time", false)).toEqual([b.id, a.id, c.id]);
      expect(await order("create_time", true)).toEqual([c.id, a.id, b.id]);
      expect(await order("update_time", false)).toEqual([a.id, c.id, b.id]);
      expect(await order("update_time", true)).toEqual([b.id, c.id, a.id]);
    });

    it("list pages with a keyset cursor across ties, each page reporting the totalSize of all pages", async () => {
      for (const id of ["e", "c", "a", "d", "b"]) await create({ id, createTime: at(id < "c" ? 1 : 2) });
      for (const field of ["create_time", "update_time"] as const) {
        for (const descending of [false, true]) {
          const pages: string[][] = [];
          const sizes: number[] = [];
          let after: { value: string; id: string } | undefined;
          for (;;) {
            const page = await store.list({ filter: [], order: { field, descending }, after, limit: 2 });
            pages.push(page.deployments.map((d) => d.id));
            sizes.push(page.totalSize);
            const last = page.deployments.at(-1);
            if (page.deployments.length < 2 || !last) break;
            const time = field === "create_time" ? last.createTime : last.updateTime;
            after = { value: time.toISOString(), id: last.id };
          }
          expect(sizes).toEqual([5, 5, 5]);
          const ascending = [["a", "b"], ["c", "d"], ["e"]];
          expect(pages).toEqual(descending ? [["e", "d"], ["c", "b"], ["a"]] : ascending);
        }
      }
      const filtered = await store.list({
        filter: [{ field: "create_time", operator: "=", value: at(2) }],
        order: { field: "create_time", descending: false },
        limit: 1,
      });
      expect([filtered.deployments.map((d) => d.id), filtered.totalSize]).toEqual([["c"], 3]);
    });
  });

  describe("one unfinished deployment per service and environment", () => {
    it("refuses a second while the first is PENDING, IN_PROGRESS or CANCELLING with aborted/DEPLOYMENT_IN_PROGRESS naming it", async () => {
      const first = await create({ service: "api", environment: "production" });
      for (const state of [State.PENDING, State.IN_PROGRESS, State.CANCELLING]) {
        if (state !== State.PENDING) await advance(first.id, [state]);
        const revision = await store.latestRevision();
        const error = await domainError(store.create(aDeployment({ service: "api", environment: "production" }), undefined));
        expect([error.kind, error.reason]).toEqual(["aborted", "DEPLOYMENT_IN_PROGRESS"]);
        expect(error.message).toBe(`api already has an unfinished deployment in production: deployments/${first.id}`);
        expect(error.metadata).toEqual({ deployment: `deployments/${first.id}` });
        expect(await store.latestRevision()).toBe(revision);
      }
      expect((await list([])).totalSize).toBe(1);
    });

    it("allows other environments and other services meanwhile, and a new one once the first has finished", async () => {
      const first = await create({ service: "api", environment: "production" });
      await create({ service: "api", environment: "staging" });
      await create({ service: "web", environment: "production" });
      for (const end of [State.SUCCEEDED, State.FAILED, State.CANCELLED]) {
        const running = await create({ service: "api", environment: "qa" });
        await advance(running.id, end === State.CANCELLED ? [State.CANCELLED] : [State.IN_PROGRESS, end]);
      }
      await advance(first.id, [State.IN_PROGRESS, State.FAILED]);
      expect((await create({ service: "api", environment: "production" })).state).toBe(State.PENDING);
    });

    it("of concurrent creates for one service and environment exactly one wins, and the others name the winner, round after round", async () => {
      for (let round = 0; round < 5; round++) {
        const attempts = Array.from({ length: 8 }, () => aDeployment({ service: "api", environment: "production" }));
        const results = await Promise.allSettled(attempts.map((attempt) => store.create(attempt, undefined)));
        const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.deployment] : []));
        expect(won).toHaveLength(1);
        const winner = won[0]!;
        for (const result of results.filter((r) => r.status === "rejected")) {
          const error = result.reason as DomainError;
          expect(error.reason).toBe("DEPLOYMENT_IN_PROGRESS");
          expect(error.metadata.deployment).toBe(`deployments/${winner.id}`);
        }
        await advance(winner.id, [State.IN_PROGRESS, State.FAILED]);
      }
      expect((await allEvents(store)).map((e) => e.revision)).toEqual(range(1, 15));
    });
  });

  describe("idempotent create (AIP-155 request_id)", () => {
    it("the same request id with the same request returns the original deployment, writing nothing", async () => {
      const input = aDeployment();
      const first = await store.create(input, { requestId: "req-1", fingerprint: "f1" });
      await advance(input.id, [State.IN_PROGRESS]);
      const current = await store.get(input.id);

      // A retry after the deployment moved on: neither a new deployment nor DEPLOYMENT_IN_PROGRESS.
      const again = await store.create({ ...input, id: "another-id" }, { requestId: "req-1", fingerprint: "f1" });
      expect(again).toEqual({ deployment: current, events: [], replayed: true });
      expect(await store.get("another-id")).toBeUndefined();
      const types = (await store.listEvents(input.id, 0, 10)).map((e) => e.type);
      expect(types).toEqual([EventType.CREATED, EventType.STATE_CHANGED]);
      expect(await store.latestRevision()).toBe(2);
      expect(first.replayed).toBe(false);
    });

    it("the same request id with a different request fails with invalid-argument/REQUEST_ID_REUSED on request_id", async () => {
      await store.create(aDeployment(), { requestId: "req-1", fingerprint: "f1" });
      const other = aDeployment();
      const error = await domainError(store.create(other, { requestId: "req-1", fingerprint: "f2" }));
      expect([error.kind, error.reason]).toEqual(["invalid-argument", "REQUEST_ID_REUSED"]);
      expect(error.violations).toEqual([expect.objectContaining({ field: "request_id", reason: "REQUEST_ID_REUSED" })]);
      expect(await store.get(other.id)).toBeUndefined();
      expect(await store.latestRevision()).toBe(1);
    });

    it("concurrent creates with one request id make one deployment and return it to all", async () => {
      const input = aDeployment();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.create({ ...input, id: `${input.id}-${i}` }, { requestId: "req-race", fingerprint: "same" }),
        ),
      );
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(new Set(results.map((r) => r.deployment.id)).size).toBe(1);
      expect((await list([])).totalSize).toBe(1);
      expect(await allEvents(store)).toHaveLength(1);
    });
  });

  describe("updating deployments", () => {
    it("update applies the patch, bumps the generation, sets update_time and appends the event at the next revision", async () => {
      const created = await create();
      const decided: DeploymentRecord[] = [];
      const { deployment, events } = await store.update(
        created.id,
        (current) => {
          decided.push(current);
          return {
            patch: {
              state: State.IN_PROGRESS,
              progressPercent: 10,
              statusMessage: "rolling",
              logUrl: "https://logs/1",
              startTime: at(600),
            },
            event: { type: EventType.STATE_CHANGED, message: "started", actor: "users/agent" },
          };
        },
        1,
        at(600),
      );
      expect(decided).toEqual([created]);
      const expected: DeploymentRecord = {
        ...created,
        state: State.IN_PROGRESS,
        progressPercent: 10,
        statusMessage: "rolling",
        logUrl: "https://logs/1",
        startTime: at(600),
        updateTime: at(600),
        generation: 2,
        revision: 2,
      };
      expect(deployment).toEqual(expected);
      expect(await store.get(created.id)).toEqual(expected);
      expect(events).toEqual([
        {
          deploymentId: created.id,
          sequence: 2,
          revision: 2,
          type: EventType.STATE_CHANGED,
          state: State.IN_PROGRESS,
          previousState: State.PENDING,
          progressPercent: 10,
          message: "started",
          actor: "users/agent",
          createTime: at(600),
          deployment: expected,
        },
      ]);
    });

    it("patch fields left out keep their values; null clears a time", async () => {
      const created = await create();
      await store.update(created.id, to(State.IN_PROGRESS, { startTime: at(1), logUrl: "l" }), undefined, at(2));
      const { deployment } = await store.update(
        created.id,
        () => ({
          patch: { startTime: null, progressPercent: undefined },
          event: { type: EventType.PROGRESS, message: "", actor: "system" },
        }),
        undefined,
        at(3),
      );
      expect(deployment).toMatchObject({ state: State.IN_PROGRESS, logUrl: "l", startTime: null, progressPercent: 0 });
    });

    it("a decide() that returns undefined writes nothing and takes no revision", async () => {
      const created = await create();
      expect(await store.update(created.id, () => undefined, undefined, at(900))).toEqual({ deployment: created, events: [] });
      expect(await store.get(created.id)).toEqual(created);
      expect(await store.latestRevision()).toBe(1);
    });

    it("a decide() that throws rethrows its DomainError, writes nothing, and leaves no revision gap", async () => {
      const created = await create();
      const refusal = new DomainError("failed-precondition", "INVALID_STATE_TRANSITION", "no");
      const refuse = () => {
        throw refusal;
      };
      const error = await domainError(store.update(created.id, refuse, undefined, at(900)));
      expect(error).toBe(refusal);
      expect(await store.get(created.id)).toEqual(created);
      expect(await store.latestRevision()).toBe(1);
      await create();
      expect((await allEvents(store)).map((e) => e.revision)).toEqual([1, 2]);
    });

    it("an unknown id fails with not-found/DEPLOYMENT_NOT_FOUND without calling decide()", async () => {
      let called = false;
      const decide = () => {
        called = true;
        return undefined;
      };
      const error = await domainError(store.update("nothing", decide, undefined, at(1)));
      expect([error.kind, error.reason, error.message]).toEqual([
        "not-found",
        "DEPLOYMENT_NOT_FOUND",
        "deployment deployments/nothing does not exist",
      ]);
      expect(called).toBe(false);
    });

    it("with the stored generation as expectedVersion applies; with a stale one fails with aborted/ETAG_MISMATCH and writes nothing", async () => {
      const created = await create();
      const v2 = (await store.update(created.id, to(State.IN_PROGRESS), 1, at(10))).deployment;
      const error = await domainError(store.update(created.id, to(State.FAILED), 1, at(11)));
      expect([error.kind, error.reason]).toEqual(["aborted", "ETAG_MISMATCH"]);
      expect(await store.get(created.id)).toEqual(v2);
      expect(await store.latestRevision()).toBe(2);
    });

    it("concurrent updates across deployments lose no change, and number events 1..n per deployment and 1..N globally with no gap", async () => {
      const deployments = await Promise.all(range(1, 10).map(() => create()));
      const updates = range(0, 49).map((i) => deployments[i % 10]!.id);
      const results = await Promise.all(updates.map((id) => store.update(id, onePercentMore, undefined, at(1000))));

      for (const deployment of deployments) expect((await store.get(deployment.id))?.progressPercent).toBe(5);
      const events = await allEvents(store);
      expect(events.map((e) => e.revision)).toEqual(range(1, 60));
      expect(results.map((r) => r.events[0]!.revision).sort((a, b) => a - b)).toEqual(range(11, 60));
      for (const deployment of deployments) {
        const own = events.filter((e) => e.deploymentId === deployment.id);
        expect(own.map((e) => e.sequence)).toEqual(range(1, 6));
        expect(own.map((e) => e.progressPercent)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await store.listEvents(deployment.id, 0, 100)).toEqual(own);
      }
    });

    it("concurrent updates, refusals and creates together still leave revisions 1..N with no gap", async () => {
      const deployments = await Promise.all(range(1, 5).map(() => create()));
      const work = range(0, 39).map(async (i) => {
        const id = deployments[i % 5]!.id;
        if (i % 4 === 0) return store.create(aDeployment(), undefined);
        if (i % 4 === 1) {
          const refuse = () => {
            throw new DomainError("failed-precondition", "NO", "no");
          };
          return store.update(id, refuse, undefined, at(1)).catch(() => undefined);
        }
        return store.update(id, onePercentMore, undefined, at(1));
      });
      await Promise.all(work);
      const events = await allEvents(store);
      expect(events.map((e) => e.revision)).toEqual(range(1, 5 + 10 + 20));
      expect(await store.latestRevision()).toBe(35);
    });
  });

  describe("superseding", () => {
    it("a SUCCEEDED deployment supersedes the previous SUCCEEDED one of its service and environment, with a system event at the following revision", async () => {
      const succeed = async (service: string, environment: string) =>
        advance((await create({ service, environment })).id, [State.IN_PROGRESS, State.SUCCEEDED]);
      const old = await succeed("api", "production");
      const otherEnv = await succeed("api", "staging");
      const otherService = await succeed("web", "production");
      const next = await advance((await create({ service: "api", environment: "production" })).id, [State.IN_PROGRESS]);

      const { deployment, events } = await store.update(next.id, to(State.SUCCEEDED), undefined, at(700));
      expect(deployment.state).toBe(State.SUCCEEDED);
      const superseded = await store.get(old.id);
      expect(superseded).toEqual({
        ...old,
        state: State.SUPERSEDED,
        generation: 4,
        revision: deployment.revision + 1,
        updateTime: at(700),
      });
      expect(events.map((e) => [e.deploymentId, e.revision, e.type, e.previousState, e.state, e.actor])).toEqual([
        [next.id, deployment.revision, EventType.STATE_CHANGED, State.IN_PROGRESS, State.SUCCEEDED, "users/agent"],
        [old.id, deployment.revision + 1, EventType.SUPERSEDED, State.SUCCEEDED, State.SUPERSEDED, "system"],
      ]);
      expect(events[1]!.sequence).toBe(4);
      expect(events[1]!.deployment).toEqual(superseded);
      expect(await store.get(otherEnv.id)).toEqual(otherEnv);
      expect(await store.get(otherService.id)).toEqual(otherService);
      expect(await store.latestRevision()).toBe(deployment.revision + 1);
    });

    it("the first success of a service and environment supersedes nothing", async () => {
      const first = await advance((await create()).id, [State.IN_PROGRESS]);
      const { events } = await store.update(first.id, to(State.SUCCEEDED), undefined, at(700));
      expect(events).toHaveLength(1);
    });
  });

  describe("queries of the service's rules", () => {
    it("lastSuccess is the newest SUCCEEDED or SUPERSEDED deployment of the service and environment created before a time, optionally of one version", async () => {
      const finish = async (overrides: Partial<NewDeployment>, end: State) =>
        advance((await create({ service: "api", environment: "production", ...overrides })).id, [State.IN_PROGRESS, end]);
      const v1 = await finish({ version: "1", createTime: at(10) }, State.SUCCEEDED);
      const v2 = await finish({ version: "2", createTime: at(20) }, State.SUCCEEDED);
      await finish({ version: "3", createTime: at(30) }, State.FAILED);
      await finish({ version: "4", createTime: at(40), environment: "staging" }, State.SUCCEEDED);

      expect((await store.lastSuccess("api", "production", at(100)))?.id).toBe(v2.id);
      expect((await store.lastSuccess("api", "production", at(20)))?.id).toBe(v1.id);
      const ofVersion1 = await store.lastSuccess("api", "production", at(100), "1");
      expect(ofVersion1).toMatchObject({ id: v1.id, state: State.SUPERSEDED });
      expect(await store.lastSuccess("api", "production", at(100), "3")).toBeUndefined();
      expect(await store.lastSuccess("api", "production", at(10))).toBeUndefined();
      expect(await store.lastSuccess("web", "production", at(100))).toBeUndefined();
    });

    it("staleCancellations lists CANCELLING deployments last changed before a time", async () => {
      const stale = await create();
      const fresh = await create();
      const running = await create();
      await store.update(stale.id, to(State.IN_PROGRESS), undefined, at(100));
      await store.update(stale.id, to(State.CANCELLING), undefined, at(101));
      await store.update(fresh.id, to(State.IN_PROGRESS), undefined, at(100));
      await store.update(fresh.id, to(State.CANCELLING), undefined, at(200));
      await store.update(running.id, to(State.IN_PROGRESS), undefined, at(100));
      expect(await store.staleCancellations(at(150))).toEqual([stale.id]);
      expect(await store.staleCancellations(at(101))).toEqual([]);
      expect((await store.staleCancellations(at(300))).sort()).toEqual([stale.id, fresh.id].sort());
    });
  });

  describe("the event log", () => {
    it("listEvents pages one deployment's events by sequence", async () => {
      const mine = await create();
      const other = await create();
      await advance(mine.id, [State.IN_PROGRESS]);
      await advance(other.id, [State.IN_PROGRESS]);
      for (let i = 0; i < 3; i++) await store.update(mine.id, onePercentMore, undefined, at(800));

      const first = await store.listEvents(mine.id, 0, 2);
      const second = await store.listEvents(mine.id, 2, 2);
      const third = await store.listEvents(mine.id, 4, 2);
      expect([first, second, third].map((page) => page.map((e) => e.sequence))).toEqual([[1, 2], [3, 4], [5]]);
      expect([...first, ...second, ...third].every((e) => e.deploymentId === mine.id)).toBe(true);
      expect(await store.listEvents(mine.id, 5, 10)).toEqual([]);
      expect(await store.listEvents("nothing", 0, 10)).toEqual([]);
    });

    it("eventsAfter returns every deployment's events after a revision, in revision order, each with the deployment as it was then", async () => {
      const a = await create();
      const b = await create();
      await advance(a.id, [State.IN_PROGRESS]);
      await advance(b.id, [State.CANCELLED]);
      await advance(a.id, [State.SUCCEEDED]);

      const after2 = await store.eventsAfter(2, 2);
      expect(after2.map((e) => [e.revision, e.deploymentId, e.state])).toEqual([
        [3, a.id, State.IN_PROGRESS],
        [4, b.id, State.CANCELLED],
      ]);
      expect(after2[0]!.deployment).toMatchObject({ id: a.id, state: State.IN_PROGRESS, generation: 2, revision: 3 });
      expect((await store.eventsAfter(4, 10)).map((e) => e.revision)).toEqual([5]);
      expect(await store.eventsAfter(5, 10)).toEqual([]);
      const events = await allEvents(store);
      for (const event of events) expect(event.deployment.revision).toBe(event.revision);
    });

    it("latestRevision is 0 when empty and the last committed revision after", async () => {
      expect(await store.latestRevision()).toBe(0);
      const created = await create();
      await advance(created.id, [State.IN_PROGRESS, State.SUCCEEDED]);
      expect(await store.latestRevision()).toBe(3);
    });
  });

  describe("snapshot", () => {
    it("returns matching deployments newest first, at most `limit`, and the latest revision", async () => {
      const a = await create({ environment: "production", createTime: at(1) });
      const b = await create({ environment: "production", createTime: at(2) });
      await create({ environment: "staging", createTime: at(3) });
      const c = await create({ environment: "production", createTime: at(4) });
      await advance(a.id, [State.IN_PROGRESS]);

      const production: FilterTerm[] = [{ field: "environment", operator: "=", value: "production" }];
      const snapshot = await store.snapshot(production, 10);
      expect(snapshot.deployments.map((d) => d.id)).toEqual([c.id, b.id, a.id]);
      expect(snapshot.revision).toBe(5);
      expect((await store.snapshot(production, 2)).deployments.map((d) => d.id)).toEqual([c.id, b.id]);
      expect(await store.snapshot([], 10)).toMatchObject({ revision: 5 });
    });

    it("taken during concurrent writes, is exactly the state that the events up to its revision describe", async () => {
      const deployments = await Promise.all(range(1, 5).map(() => create()));
      const snapshots: Awaited<ReturnType<DeploymentStore["snapshot"]>>[] = [];
      let writing = true;
      const reader = (async () => {
        while (writing) snapshots.push(await store.snapshot([], 1000));
      })();
      await Promise.all(
        range(0, 39).map((i) =>
          i % 8 === 0
            ? store.create(aDeployment(), undefined)
            : store.update(deployments[i % 5]!.id, onePercentMore, undefined, at(1)),
        ),
      );
      writing = false;
      await reader;
      snapshots.push(await store.snapshot([], 1000));

      const events = await allEvents(store);
      for (const { deployments: seen, revision } of snapshots) {
        const latest = new Map<string, DeploymentRecord>();
        for (const event of events) if (event.revision <= revision) latest.set(event.deploymentId, event.deployment);
        const byId = (x: DeploymentRecord, y: DeploymentRecord) => x.id.localeCompare(y.id);
        expect([...seen].sort(byId)).toEqual([...latest.values()].sort(byId));
      }
      expect(snapshots.at(-1)!.revision).toBe(events.length);
    });
  });

  // Defined on PostgreSQL only, so SQLite shows no skipped test.
  if (target.name === "postgres") it("with notifyChannel, each committed write notifies its latest revision; refused and replayed ones none", async () => {
    await store.close();
    const channel = `deployments_test_${Math.random().toString(36).slice(2)}`;
    store = await openDeploymentStore({ ...location, notifyChannel: channel });
    const url = new URL(location.url!);
    url.searchParams.delete("schema");
    const listener = new pg.Client({ connectionString: url.toString() });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on("notification", (message) => payloads.push(message.payload ?? ""));
      await listener.query(`listen ${listener.escapeIdentifier(channel)}`);

      const input = aDeployment({ service: "api", environment: "production" });
      await store.create(input, { requestId: "r", fingerprint: "f" });
      await store.create(input, { requestId: "r", fingerprint: "f" });
      await domainError(store.create(aDeployment({ service: "api", environment: "production" }), undefined));
      await store.update(input.id, to(State.IN_PROGRESS), undefined, at(1));
      await store.update(input.id, () => undefined, undefined, at(1));
      const { events } = await store.update(input.id, to(State.SUCCEEDED), undefined, at(2));
      expect(events.map((e) => e.revision)).toEqual([3]);
      await expect.poll(() => payloads).toEqual(["1", "2", "3"]);
    } finally {
      await listener.end();
    }
  });

  it("keeps its data across close and reopen", async () => {
    const created = await create();
    const { deployment } = await store.update(created.id, to(State.IN_PROGRESS), undefined, at(50));
    await store.create(aDeployment(), { requestId: "kept", fingerprint: "f" });
    await store.close();
    store = await openDeploymentStore(location);
    expect(await store.get(created.id)).toEqual(deployment);
    expect((await allEvents(store)).map((e: EventRecord) => e.revision)).toEqual([1, 2, 3]);
    expect(await store.latestRevision()).toBe(3);
    expect((await store.create(aDeployment(), { requestId: "kept", fingerprint: "f" })).replayed).toBe(true);
    expect((await create()).revision).toBe(4);
  });
});
