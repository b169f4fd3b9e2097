import { createChannel, Status, type Channel } from "nice-grpc";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DeploymentEventType as EventType, DeploymentState as State, type Deployment, type DeploymentEvent } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService, type DeploymentSnapshot, type WatchDeploymentResponse, type WatchDeploymentsResponse } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { startTestStack, type DeploymentClient, type TestStack } from "../support/deployments-service.js";
import { createServiceAccountKey } from "../support/service-accounts.js";
import { typedClient } from "../support/typed-client.js";
import { admin } from "../support/users-service.js";
import {
  changeEventsOf,
  changeRevisionsOf,
  changesOf,
  eventKey,
  eventually,
  failureOfWatch,
  metricValue,
  openStalledWatch,
  recordWatch,
  type StalledWatch,
  type WatchRecording,
} from "../support/watching.js";

/** A stack with its admin token and an agent's API key. */
interface Actors {
  stack: TestStack;
  adminToken: string;
  agentKey: string;
}

async function startActors(deploymentsEnv: Record<string, string>): Promise<Actors> {
  const stack = await startTestStack({ deployments: deploymentsEnv });
  const adminToken = await stack.users.login(admin.email, admin.password);
  const { secret: agentKey } = await createServiceAccountKey(stack.users, adminToken, "agent@example.com");
  return { stack, adminToken, agentKey };
}

/** What a test does through the API, as admin or agent. */
function actions({ stack, adminToken, agentKey }: Actors, client: DeploymentClient = stack.deployments.client) {
  const asAdmin = stack.auth(adminToken);
  const asAgent = stack.auth(agentKey);
  return {
    create: async (service: string, environment = "staging", extra: { labels?: Record<string, string>; description?: string } = {}) =>
      (await client.createDeployment({ deployment: { service, version: "1.0.0", environment, ...extra } }, asAdmin)).deployment!,
    report: async (name: string, state: State, progressPercent = 0) =>
      (await client.reportDeploymentProgress({ name, state, progressPercent }, asAgent)).deployment!,
    cancel: async (name: string) => (await client.cancelDeployment({ name }, asAdmin)).deployment!,
    events: async (name: string) => (await client.listDeploymentEvents({ parent: name, pageSize: 1000 }, asAdmin)).events,
    /** Drives a new deployment through IN_PROGRESS, `steps` progress reports, to SUCCEEDED. */
    async ship(service: string, steps = 2, environment = "staging") {
      const { name } = await this.create(service, environment);
      await this.report(name, State.IN_PROGRESS);
      for (let step = 1; step <= steps; step += 1) await this.report(name, State.UNSPECIFIED, step * 10);
      return this.report(name, State.SUCCEEDED);
    },
  };
}

/** Every event of these deployments, in revision order. */
async function eventsOf(act: ReturnType<typeof actions>, names: readonly string[]): Promise<DeploymentEvent[]> {
  const all = (await Promise.all(names.map((name) => act.events(name)))).flat();
  return all.sort((a, b) => Number(a.revision - b.revision));
}

const revisionsOf = (events: readonly DeploymentEvent[]) => events.map((e) => Number(e.revision));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function snapshotOf(messages: readonly WatchDeploymentsResponse[]): { deployments: Deployment[]; revision: number } {
  const first = messages[0];
  if (first?.kind.case !== "snapshot") throw new Error(`the first message is ${first?.kind.case}, not a snapshot`);
  return { deployments: (first.kind.value as DeploymentSnapshot).deployments, revision: Number(first.revision) };
}

function watchAll(actors: Actors, filter = "", resumeRevision = 0, client: DeploymentClient = actors.stack.deployments.client) {
  return recordWatch<WatchDeploymentsResponse>((signal) =>
    client.watchDeployments({ filter, resumeRevision: BigInt(resumeRevision) }, { ...actors.stack.auth(actors.adminToken), signal }),
  );
}

function watchOne(actors: Actors, name: string, resumeRevision = 0, client: DeploymentClient = actors.stack.deployments.client) {
  return recordWatch<WatchDeploymentResponse>((signal) =>
    client.watchDeployment({ name, resumeRevision: BigInt(resumeRevision) }, { ...actors.stack.auth(actors.adminToken), signal }),
  );
}

const recordings: Array<WatchRecording<any>> = [];
const channels: Channel[] = [];
const stalled: StalledWatch[] = [];

/** Keeps a recording to abort after the test. */
function tracked<T extends WatchRecording<any>>(recording: T): T {
  recordings.push(recording);
  return recording;
}

/** A DeploymentService client on its own channel, closed after the test. */
function newClient(address: string): DeploymentClient {
  const channel = createChannel(address);
  channels.push(channel);
  return typedClient(DeploymentService, channel);
}

afterEach(async () => {
  for (const recording of recordings.splice(0)) recording.abort();
  for (const watch of stalled.splice(0)) watch.close();
  for (const channel of channels.splice(0)) channel.close();
});

describe("watching deployments over gRPC (SQLite, heartbeat 200ms)", () => {
  let actors: Actors;
  let act: ReturnType<typeof actions>;

  beforeAll(async () => {
    actors = await startActors({ LAUNCHPAD_WATCH_HEARTBEAT: "200ms" });
    act = actions(actors);
  });
  afterAll(async () => {
    await actors?.stack.stop();
  });

  it("WatchDeployments sends a snapshot at its revision first, then every change of concurrent writers in commit order", async () => {
    const before = [await act.create("snap-a"), await act.create("snap-b", "production")];
    const latest = Math.max(...revisionsOf(await eventsOf(act, before.map((d) => d.name))));

    const watch = tracked(watchAll(actors));
    await watch.until((m) => m.length >= 1, "the snapshot");
    const snapshot = snapshotOf(watch.messages);
    expect(snapshot.revision).toBe(latest);
    expect(snapshot.deployments.map((d) => d.name)).toEqual(expect.arrayContaining(before.map((d) => d.name)));

    // Four writers on four connections at once, plus changes to the deployments in the snapshot.
    const writers = [1, 2, 3, 4].map(() => actions(actors, newClient(actors.stack.deployments.address)));
    const shipped = await Promise.all([
      ...writers.map((writer, i) => writer.ship(`writer-${i}`, 3)),
      (async () => {
        await act.report(before[0]!.name, State.IN_PROGRESS);
        return act.report(before[0]!.name, State.FAILED);
      })(),
      act.cancel(before[1]!.name),
    ]);
    const expected = (await eventsOf(act, shipped.map((d) => d.name))).filter((e) => Number(e.revision) > snapshot.revision);
    // 4 × (create, start, 3 × progress, succeed) + start and fail + cancel.
    expect(expected).toHaveLength(4 * 6 + 2 + 1);

    await watch.until((m) => changesOf(m).length >= expected.length, `${expected.length} changes`);
    const changes = changesOf(watch.messages);
    expect(changes.map((c) => eventKey(c.event!))).toEqual(expected.map(eventKey));
    // Commit order: the revisions follow the snapshot's without a gap.
    expect(changeRevisionsOf(watch.messages)).toEqual(range(snapshot.revision + 1, snapshot.revision + expected.length));
    for (const message of watch.messages.slice(1)) {
      if (message.kind.case === "change") expect(message.revision).toBe(message.kind.value.event!.revision);
    }
    // Each change carries the deployment as the change left it.
    for (const change of changes) {
      expect(change.deployment?.name).toBe(change.event?.deployment);
      expect(change.deployment?.state).toBe(change.event?.state);
    }
  });

  it("WatchDeployment sends the one deployment first, then only its own changes", async () => {
    const target = await act.create("watched-one");
    const other = await act.create("not-watched");
    const watch = tracked(watchOne(actors, target.name));
    await watch.until((m) => m.length >= 1, "the snapshot");
    const first = watch.messages[0]!;
    expect(first.kind.case).toBe("snapshot");
    expect(first.kind.value).toMatchObject({ name: target.name, state: State.PENDING });
    // Its revision is the deployment's own, although another was created since.
    expect(Number(first.revision)).toBe(Number((await act.events(target.name))[0]!.revision));

    await act.report(other.name, State.IN_PROGRESS);
    await act.report(target.name, State.IN_PROGRESS);
    await act.report(other.name, State.UNSPECIFIED, 50);
    await act.report(target.name, State.UNSPECIFIED, 50);
    await act.report(other.name, State.SUCCEEDED);
    await act.report(target.name, State.FAILED);

    await watch.until((m) => changesOf(m).some((c) => c.deployment?.state === State.FAILED), "the failure");
    const events = changeEventsOf(watch.messages);
    expect(events.every((e) => e.deployment === target.name)).toBe(true);
    expect(events.map(eventKey)).toEqual((await act.events(target.name)).slice(1).map(eventKey));
    expect(events.map((e) => e.state)).toEqual([State.IN_PROGRESS, State.IN_PROGRESS, State.FAILED]);
  });

  it('a filter such as environment = "production" applies to the snapshot and to changes', async () => {
    const production = await act.create("filtered", "production");
    const staging = await act.create("filtered", "staging");
    const watch = tracked(watchAll(actors, 'environment = "production"'));
    await watch.until((m) => m.length >= 1, "the snapshot");
    const snapshot = snapshotOf(watch.messages);
    expect(snapshot.deployments.map((d) => d.name)).toContain(production.name);
    expect(snapshot.deployments.every((d) => d.environment === "production")).toBe(true);

    await act.report(staging.name, State.IN_PROGRESS);
    await act.report(production.name, State.IN_PROGRESS);
    await act.report(staging.name, State.SUCCEEDED);
    const another = await act.create("filtered-too", "production");
    await act.create("filtered-too", "staging");
    await act.report(production.name, State.SUCCEEDED);

    await watch.until((m) => changesOf(m).some((c) => c.deployment?.name === production.name && c.deployment.state === State.SUCCEEDED), "production's success");
    expect(changesOf(watch.messages).map((c) => [c.deployment?.name, c.deployment?.state])).toEqual([
      [production.name, State.IN_PROGRESS],
      [another.name, State.PENDING],
      [production.name, State.SUCCEEDED],
    ]);
  });

  it("a state filter also sends the change that takes a deployment out of the state", async () => {
    const watch = tracked(watchAll(actors, "state = DEPLOYMENT_STATE_IN_PROGRESS"));
    await watch.until((m) => m.length >= 1, "the snapshot");
    expect(snapshotOf(watch.messages).deployments.every((d) => d.state === State.IN_PROGRESS)).toBe(true);

    const leaving = await act.create("state-filter");
    await act.report(leaving.name, State.IN_PROGRESS);
    await act.report(leaving.name, State.UNSPECIFIED, 40);
    const cancelledAtOnce = await act.create("state-filter-pending");
    await act.cancel(cancelledAtOnce.name);
    await act.report(leaving.name, State.SUCCEEDED);
    const marker = await act.create("state-filter-marker");
    await act.report(marker.name, State.IN_PROGRESS);

    await watch.until((m) => changesOf(m).some((c) => c.deployment?.name === marker.name), "the marker");
    expect(changesOf(watch.messages).map((c) => [c.deployment?.name, c.event?.type, c.deployment?.state])).toEqual([
      [leaving.name, EventType.STATE_CHANGED, State.IN_PROGRESS],
      [leaving.name, EventType.PROGRESS, State.IN_PROGRESS],
      [leaving.name, EventType.STATE_CHANGED, State.SUCCEEDED],
      [marker.name, EventType.STATE_CHANGED, State.IN_PROGRESS],
    ]);
  });

  it("heartbeats arrive on an idle stream and carry the latest revision, including changes filtered out", async () => {
    const watch = tracked(watchAll(actors, 'service = "nobody-deploys-this"'));
    await watch.until((m) => m.filter((x) => x.kind.case === "heartbeat").length >= 2, "two heartbeats");
    const snapshotRevision = snapshotOf(watch.messages).revision;
    const beats = () => watch.messages.filter((m) => m.kind.case === "heartbeat");
    expect(beats().every((m) => Number(m.revision) === snapshotRevision)).toBe(true);

    const elsewhere = await act.create("heartbeat-elsewhere");
    const revision = Number((await act.events(elsewhere.name))[0]!.revision);
    expect(revision).toBeGreaterThan(snapshotRevision);
    await watch.until((m) => m.some((x) => x.kind.case === "heartbeat" && Number(x.revision) === revision), `a heartbeat at revision ${revision}`);
    expect(changesOf(watch.messages)).toEqual([]);
    const revisions = watch.messages.map((m) => Number(m.revision));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));

    // WatchDeployment's heartbeats too: the revision moves on with other deployments' changes.
    const one = tracked(watchOne(actors, elsewhere.name));
    await one.until((m) => m.length >= 1, "the snapshot");
    const later = await act.create("heartbeat-elsewhere-2");
    const laterRevision = Number((await act.events(later.name))[0]!.revision);
    await one.until((m) => m.some((x) => x.kind.case === "heartbeat" && Number(x.revision) === laterRevision), `a heartbeat at revision ${laterRevision}`);
    expect(changesOf(one.messages)).toEqual([]);
  });

  for (const method of ["WatchDeployments", "WatchDeployment"] as const) {
    it(`${method} resumes after a forced disconnect from the last revision seen: nothing missed, nothing twice, no snapshot`, async () => {
      const service = `resume-${method.toLowerCase()}`;
      const deployment = await act.create(service);
      const open = (resumeRevision = 0) =>
        method === "WatchDeployments" ? watchAll(actors, `service = "${service}"`, resumeRevision) : watchOne(actors, deployment.name, resumeRevision);

      const first = tracked(open());
      await first.until((m) => m.length >= 1, "the snapshot");
      // Changes keep coming while the client disconnects half way.
      const writing = (async () => {
        await act.report(deployment.name, State.IN_PROGRESS);
        for (let progress = 2; progress <= 98; progress += 2) await act.report(deployment.name, State.UNSPECIFIED, progress);
        await act.report(deployment.name, State.SUCCEEDED);
      })();
      await first.until((m) => changesOf(m).length >= 10, "ten changes");
      first.abort();
      expect((await first.ended).how).toBe("aborted");
      await writing;

      const seen = first.messages as WatchMessageOf<typeof method>[];
      const resumeFrom = Number(seen.at(-1)!.revision);
      const second = tracked(open(resumeFrom));
      await second.until((m) => changesOf(m).some((c) => c.deployment?.state === State.SUCCEEDED), "the success");
      expect(second.messages.some((m) => m.kind.case === "snapshot")).toBe(false);

      const all = [...changeEventsOf(seen), ...changeEventsOf(second.messages)];
      const history = (await act.events(deployment.name)).slice(1);
      expect(history).toHaveLength(1 + 49 + 1);
      expect(all.map(eventKey)).toEqual(history.map(eventKey));
      expect(changeRevisionsOf(second.messages).every((r) => r > resumeFrom)).toBe(true);
    });
  }
});

type WatchMessageOf<M extends "WatchDeployments" | "WatchDeployment"> = M extends "WatchDeployments" ? WatchDeploymentsResponse : WatchDeploymentResponse;

describe("resuming from a revision no longer retained (LAUNCHPAD_WATCH_RETENTION=5)", () => {
  let actors: Actors;

  beforeAll(async () => {
    actors = await startActors({ LAUNCHPAD_WATCH_RETENTION: "5" });
  });
  afterAll(async () => {
    await actors?.stack.stop();
  });

  it("is refused with FAILED_PRECONDITION RESUME_REVISION_EXPIRED naming the oldest retained revision; the oldest one still resumes", async () => {
    const act = actions(actors);
    const deployment = await act.create("retained");
    await act.report(deployment.name, State.IN_PROGRESS);
    for (let progress = 5; progress <= 90; progress += 5) await act.report(deployment.name, State.UNSPECIFIED, progress);
    await act.report(deployment.name, State.SUCCEEDED);
    const history = await act.events(deployment.name);
    expect(history).toHaveLength(21);
    const latest = Number(history.at(-1)!.revision);

    for (const watch of [watchAll(actors, "", 1), watchOne(actors, deployment.name, 1)]) {
      const failure = await failureOfWatch(tracked(watch));
      expect([failure.code, failure.reason]).toEqual([Status.FAILED_PRECONDITION, "RESUME_REVISION_EXPIRED"]);
      expect(failure.metadata.oldest_revision).toBe(String(latest - 4));
    }

    // Resuming from just before the oldest retained change replays the five retained ones.
    const resumed = tracked(watchAll(actors, "", latest - 5));
    await resumed.until((m) => changesOf(m).length >= 5, "five changes");
    expect(changeRevisionsOf(resumed.messages)).toEqual(range(latest - 4, latest));
    const tooOld = await failureOfWatch(tracked(watchAll(actors, "", latest - 6)));
    expect(tooOld.reason).toBe("RESUME_REVISION_EXPIRED");
  });
});

describe("slow and departed watchers (LAUNCHPAD_WATCH_QUEUE_LIMIT=20, heartbeat 60s)", () => {
  let actors: Actors;
  const streams = () => metricValue(actors.stack.deployments.running.metricsPort, "deployment_watch_streams");

  beforeAll(async () => {
    actors = await startActors({ LAUNCHPAD_WATCH_QUEUE_LIMIT: "20", LAUNCHPAD_WATCH_HEARTBEAT: "60s" });
  });
  afterAll(async () => {
    await actors?.stack.stop();
  });

  it("a watcher that disconnects is forgotten at once, without waiting for a heartbeat or a change", async () => {
    const act = actions(actors);
    // Every watch of this suite ends with its test.
    const base = 0;
    await eventually(async () => (await streams()) === base, "no open streams");
    const deployment = await act.create("departing");
    const watches = [watchAll(actors), watchAll(actors, 'service = "departing"'), watchOne(actors, deployment.name)].map(tracked);
    await Promise.all(watches.map((w) => w.until((m) => m.length >= 1, "the snapshot")));
    await eventually(async () => (await streams()) === base + 3, "three open streams");

    watches[0]!.abort();
    await eventually(async () => (await streams()) === base + 2, "two open streams", 10_000);
    watches[1]!.abort();
    watches[2]!.abort();
    await eventually(async () => (await streams()) === base, "no open streams", 10_000);
    // The rest of the service is unaffected: a new watcher still gets its snapshot.
    const again = tracked(watchOne(actors, deployment.name));
    await again.until((m) => m.length >= 1, "a snapshot");
    await eventually(async () => (await streams()) === base + 1, "the new watcher counted");
  });

  it("a watcher that stops reading is cut off with RESOURCE_EXHAUSTED WATCHER_TOO_SLOW and where to resume, while a fast one gets everything", async () => {
    const act = actions(actors);
    const filter = 'environment = "slow-test"';
    const base = 0;
    await eventually(async () => (await streams()) === base, "no open streams");
    const fast = tracked(watchAll(actors, filter, 0, newClient(actors.stack.deployments.address)));
    const slow = openStalledWatch(actors.stack.deployments.address, { filter }, `Bearer ${actors.adminToken}`);
    stalled.push(slow);
    await fast.until((m) => m.length >= 1, "the snapshot");
    await eventually(async () => (await streams()) === base + 2, "both watchers subscribed");

    // Large changes (~15 KB each): the stalled client's HTTP/2 window holds about one.
    const labels = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`label-${i}`, "x".repeat(250)]));
    const created: Deployment[] = [];
    for (let i = 0; i < 60; i += 1) {
      created.push(await act.create(`slow-${i}`, "slow-test", { labels, description: "d".repeat(1000) }));
    }

    await fast.until((m) => changesOf(m).length >= created.length, `${created.length} changes`);
    expect(changesOf(fast.messages).map((c) => c.deployment?.name)).toEqual(created.map((d) => d.name));
    // The stalled subscription is gone from the hub although its client never read.
    await eventually(async () => (await streams()) === base + 1, "the stalled watcher cut off");

    const { messages, failure } = await slow.drain();
    expect(failure).toBeDefined();
    expect([failure!.code, failure!.reason]).toEqual([Status.RESOURCE_EXHAUSTED, "WATCHER_TOO_SLOW"]);
    expect(messages[0]?.kind.case).toBe("snapshot");
    const received = changesOf(messages).map((c) => c.deployment!.name);
    expect(received.length).toBeLessThan(created.length);
    expect(received).toEqual(created.slice(0, received.length).map((d) => d.name));
    // Its resume point is the last message it was sent: resuming from there gets the rest, once each.
    expect(failure!.metadata.resume_revision).toBe(String(messages.at(-1)!.revision));
    const resumed = tracked(watchAll(actors, filter, Number(failure!.metadata.resume_revision)));
    await resumed.until((m) => changesOf(m).length >= created.length - received.length, "the rest");
    expect([...received, ...changesOf(resumed.messages).map((c) => c.deployment!.name)]).toEqual(created.map((d) => d.name));
  });
});

describe("graceful shutdown", () => {
  let actors: Actors | undefined;

  afterEach(async () => {
    await actors?.stack.stop();
    actors = undefined;
  });

  it("ends every open watch with UNAVAILABLE SERVER_STOPPING and the revision to resume from", async () => {
    actors = await startActors({ LAUNCHPAD_WATCH_HEARTBEAT: "60s" });
    const current = actors;
    const act = actions(current);
    const deployment = await act.create("stopping");
    const client = newClient(current.stack.deployments.address);
    const watches = [watchAll(current, "", 0, client), watchAll(current, 'service = "other"', 0, client), watchOne(current, deployment.name, 0, client)].map(tracked);
    await Promise.all(watches.map((w) => w.until((m) => m.length >= 1, "the snapshot")));
    await act.report(deployment.name, State.IN_PROGRESS);
    await watches[0]!.until((m) => changesOf(m).length >= 1, "the change");
    await watches[2]!.until((m) => changesOf(m).length >= 1, "the change");

    // Stop only the deployments service (the stack's stop() in afterEach finishes the rest).
    const running = current.stack.deployments.running;
    const stop = current.stack.deployments.running.stop;
    let stopped: Promise<void> | undefined;
    running.stop = () => (stopped ??= stop.call(running));
    await running.stop();

    for (const watch of watches) {
      const failure = await failureOfWatch(watch);
      expect([failure.code, failure.reason]).toEqual([Status.UNAVAILABLE, "SERVER_STOPPING"]);
      expect(failure.metadata.resume_revision).toBe(String(watch.messages.at(-1)!.revision));
    }
    // The filtered watch saw no change: it resumes from its snapshot's revision.
    expect(changesOf(watches[1]!.messages)).toEqual([]);
  });
});
