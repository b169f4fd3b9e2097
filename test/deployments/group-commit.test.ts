import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { DeploymentState as State, DeploymentEventType as EventType } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { openDeploymentStore } from "../../services/deployments/store/index.js";
import type { DeploymentStore, EventRecord } from "../../services/deployments/store/types.js";
import type { DomainError } from "../../services/kit/errors.js";
import { storeTargets, type StoreLocation } from "../support/databases.js";
import { newDeployments } from "./new-deployments.js";

// Creates that arrive together are written in one transaction (group
// commit). These tests fire many at once and check that each is still its own
// create: refused alone, replayed alone, numbered gap-free in commit order.

const aDeployment = newDeployments("group");
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const revisionsOf = (events: EventRecord[]) => events.map((e) => e.revision);

describe.each(await storeTargets())("creates written together on $name", (target) => {
  let store: DeploymentStore;

  beforeEach(async () => {
    store = await openDeploymentStore(target.fresh());
  });
  afterEach(() => store.close());
  afterAll(() => target.cleanup());

  it("many concurrent creates each get their own deployment and CREATED event, numbered 1..N with no gap", async () => {
    const inputs = Array.from({ length: 150 }, () => aDeployment());
    const results = await Promise.all(inputs.map((input, i) => store.create(input, { requestId: `req-${i}`, fingerprint: `f-${i}` })));

    expect(results.map((r) => r.deployment.id)).toEqual(inputs.map((input) => input.id));
    expect(results.every((r) => !r.replayed && r.events.length === 1 && r.events[0]!.type === EventType.CREATED)).toBe(true);
    expect(results.map((r) => r.deployment.revision).sort((a, b) => a - b)).toEqual(range(1, 150));
    const events = await store.eventsAfter(0, 1000);
    expect(revisionsOf(events)).toEqual(range(1, 150));
    expect(events.map((e) => [e.deploymentId, e.sequence])).toEqual(
      results.sort((a, b) => a.deployment.revision - b.deployment.revision).map((r) => [r.deployment.id, 1]),
    );
    expect(await store.latestRevision()).toBe(150);
  });

  it("one refused create among many fails alone: the others are written, with no revision gap", async () => {
    const busy = (await store.create(aDeployment({ service: "api", environment: "production" }), undefined)).deployment;
    await store.create(aDeployment(), { requestId: "taken", fingerprint: "first" });

    const fine = Array.from({ length: 40 }, () => aDeployment());
    const attempts = [
      ...fine.slice(0, 20).map((input) => store.create(input, undefined)),
      store.create(aDeployment({ service: "api", environment: "production" }), undefined),
      store.create(aDeployment(), { requestId: "taken", fingerprint: "second" }),
      ...fine.slice(20).map((input) => store.create(input, undefined)),
    ];
    const settled = await Promise.allSettled(attempts);

    const refused = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as DomainError] : []));
    expect(refused.map((e) => [e.reason, e.metadata.deployment])).toEqual([
      ["DEPLOYMENT_IN_PROGRESS", `deployments/${busy.id}`],
      ["REQUEST_ID_REUSED", undefined],
    ]);
    const written = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.deployment.id] : []));
    expect(written).toEqual(fine.map((input) => input.id));
    expect(revisionsOf(await store.eventsAfter(0, 1000))).toEqual(range(1, 42));
  });

  it("creates with one request id in one group make one deployment; creates for one service and environment, one winner", async () => {
    const replayed = Array.from({ length: 6 }, (_, i) => store.create(aDeployment({ id: `same-request-${i}` }), { requestId: "once", fingerprint: "f" }));
    const contended = Array.from({ length: 6 }, () => store.create(aDeployment({ service: "web", environment: "production" }), undefined));
    const others = Array.from({ length: 10 }, () => store.create(aDeployment(), undefined));

    const once = await Promise.all(replayed);
    expect(new Set(once.map((r) => r.deployment.id))).toEqual(new Set([once[0]!.deployment.id]));
    expect(once.filter((r) => !r.replayed)).toHaveLength(1);
    const raced = await Promise.allSettled(contended);
    const winners = raced.flatMap((s) => (s.status === "fulfilled" ? [s.value.deployment] : []));
    expect(winners).toHaveLength(1);
    for (const s of raced) if (s.status === "rejected") expect((s.reason as DomainError).metadata.deployment).toBe(`deployments/${winners[0]!.id}`);
    expect(await Promise.all(others)).toHaveLength(10);
    expect(revisionsOf(await store.eventsAfter(0, 1000))).toEqual(range(1, 12));
    expect(winners[0]!.state).toBe(State.PENDING);
  });
});

const postgres = (await storeTargets()).find((t) => t.name === "postgres");

describe.skipIf(postgres === undefined)("concurrent creates through two stores on one PostgreSQL schema", () => {
  const channel = `group_commit_${Math.random().toString(36).slice(2)}`;
  let location: StoreLocation;
  let stores: DeploymentStore[];
  let listener: pg.Client;

  beforeEach(async () => {
    location = postgres!.fresh();
    stores = [await openDeploymentStore({ ...location, notifyChannel: channel })];
    stores.push(await openDeploymentStore({ ...location, notifyChannel: channel }));
    const url = new URL(location.url!);
    url.searchParams.delete("schema");
    listener = new pg.Client({ connectionString: url.toString() });
    await listener.connect();
    await listener.query(`listen ${listener.escapeIdentifier(channel)}`);
  });
  afterEach(async () => {
    await listener.end();
    for (const store of stores) await store.close();
  });
  afterAll(() => postgres!.cleanup());

  it("number every event 1..N with no gap, and a reader woken by each NOTIFY sees them in that order, none skipped", async () => {
    const [a, b] = stores as [DeploymentStore, DeploymentStore];
    // The reader does what a watcher does: on each notification, read
    // everything after the last revision it has seen. A revision that became
    // visible before a smaller one would be skipped for ever.
    const seen: number[] = [];
    const notified: number[] = [];
    let reading = Promise.resolve();
    listener.on("notification", (message) => {
      notified.push(Number(message.payload));
      reading = reading.then(async () => {
        const events = await a.eventsAfter(seen.at(-1) ?? 0, 10_000);
        seen.push(...revisionsOf(events));
      });
    });

    const total = 400;
    const results = await Promise.all(
      Array.from({ length: total }, (_, i) => (i % 2 === 0 ? a : b).create(aDeployment(), { requestId: `both-${i}`, fingerprint: "f" })),
    );

    expect(results.every((r) => !r.replayed)).toBe(true);
    expect(revisionsOf(await b.eventsAfter(0, 10_000))).toEqual(range(1, total));
    await expect.poll(() => notified.at(-1), { timeout: 10_000 }).toBe(total);
    await reading;
    expect(seen).toEqual(range(1, total));
    // Each notification names the latest revision of its commit; commits notify in commit order.
    expect(notified).toEqual([...notified].sort((x, y) => x - y));
    // Fewer commits than creates: concurrent creates were written together.
    expect(notified.length).toBeLessThan(total);
  });
});
