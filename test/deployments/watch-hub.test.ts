import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { DeploymentEventType, DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { EventRecord } from "../../services/deployments/store/types.js";
import { createWatchHub, type WatchHub, type WatchHubOptions, type WatchItem } from "../../services/deployments/watch/hub.js";
import { createPostgresListener } from "../../services/deployments/watch/postgres-listener.js";
import { domainError } from "../support/domain-errors.js";
import { reachablePostgresUrl } from "../support/postgres-server.js";

/** An event at `revision` of deployment `deploymentId`. */
function eventAt(revision: number, deploymentId: string): EventRecord {
  const time = new Date(Date.UTC(2026, 0, 1, 0, 0, revision));
  return {
    deploymentId,
    sequence: 1,
    revision,
    type: DeploymentEventType.CREATED,
    state: DeploymentState.PENDING,
    previousState: DeploymentState.UNSPECIFIED,
    progressPercent: 0,
    message: "",
    actor: "system",
    createTime: time,
    deployment: {
      id: deploymentId,
      service: "api",
      version: `1.0.${revision}`,
      environment: "prod",
      description: "",
      labels: {},
      state: DeploymentState.PENDING,
      progressPercent: 0,
      statusMessage: "",
      logUrl: "",
      creator: "users/u1",
      rollbackOf: null,
      createTime: time,
      updateTime: time,
      startTime: null,
      endTime: null,
      revision,
      generation: 1,
    },
  };
}

/** An in-memory event log: events[i] has revision i + 1. */
class FakeLog {
  readonly events: EventRecord[] = [];
  reads = 0;
  /** When set, every eventsAfter waits for it. */
  gate: Promise<void> | undefined;
  /** When set, every eventsAfter yields to the event loop first (so commits interleave with reads). */
  slow = false;

  readonly source: WatchHubOptions["source"] = {
    eventsAfter: async (afterRevision: number, limit: number) => {
      this.reads += 1;
      if (this.gate !== undefined) await this.gate;
      if (this.slow) await new Promise((resolve) => setImmediate(resolve));
      return this.events.slice(afterRevision, afterRevision + limit);
    },
    latestRevision: async () => this.events.length,
  };

  /** Commits `count` events, of deployment `deploymentId` or each of its own. */
  append(count: number, deploymentId?: string): void {
    for (let i = 0; i < count; i += 1) {
      const revision = this.events.length + 1;
      this.events.push(eventAt(revision, deploymentId ?? `d${revision}`));
    }
  }
}

const everything = () => true;
const hubs: WatchHub[] = [];

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});

/** A started hub over `log`; no poll or heartbeat gets in the way unless asked for. */
async function startHub(log: FakeLog, options: Partial<WatchHubOptions> = {}): Promise<WatchHub> {
  const hub = createWatchHub({ source: log.source, pollMs: 60_000, heartbeatMs: 60_000, ...options });
  hubs.push(hub);
  await hub.start();
  return hub;
}

/** Commits `count` events and waits until the hub has ingested them. */
async function commit(log: FakeLog, hub: WatchHub, count: number, deploymentId?: string): Promise<void> {
  log.append(count, deploymentId);
  hub.poke();
  await waitFor(() => hub.latestRevision() === log.events.length);
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function subscribe(hub: WatchHub, fromRevision: number, matches: (event: EventRecord) => boolean = everything) {
  const controller = new AbortController();
  const iterator = hub.subscribe(fromRevision, matches, controller.signal)[Symbol.asyncIterator]();
  return { iterator, controller };
}

/** The next `count` items of `iterator`, as "revision" for changes and "♥revision" for heartbeats. */
async function take(iterator: AsyncIterator<WatchItem>, count: number): Promise<string[]> {
  const items: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const result = await iterator.next();
    if (result.done) throw new Error(`the iteration ended after ${items.length} items`);
    items.push(label(result.value));
  }
  return items;
}

function label(item: WatchItem): string {
  return item.kind === "change" ? String(item.event.revision) : `♥${item.revision}`;
}

function range(first: number, last: number): string[] {
  return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => String(first + i));
}

describe("watch hub: order and resume", () => {
  it("replays retained changes after the resume revision, then live ones, in order", async () => {
    const log = new FakeLog();
    log.append(5);
    const hub = await startHub(log);
    const { iterator } = subscribe(hub, 2);
    expect(await take(iterator, 3)).toEqual(["3", "4", "5"]);
    await commit(log, hub, 2);
    expect(await take(iterator, 2)).toEqual(["6", "7"]);
  });

  it("hands changes ingested during a replay to the replaying subscriber exactly once, after the replay", async () => {
    const log = new FakeLog();
    log.append(50);
    const hub = await startHub(log);
    const { iterator } = subscribe(hub, 0);
    expect(await take(iterator, 10)).toEqual(range(1, 10));
    await commit(log, hub, 20);
    expect(await take(iterator, 60)).toEqual(range(11, 70));
    await commit(log, hub, 1);
    expect(await take(iterator, 1)).toEqual(["71"]);
  });

  it("gives subscribers made while events are being ingested every change exactly once, in order", async () => {
    const log = new FakeLog();
    log.slow = true;
    log.append(30);
    const hub = await startHub(log, { batchSize: 7 });
    const total = 330;
    const consumers: Promise<{ from: number; got: string[] }>[] = [];
    const consume = (fromRevision: number) => {
      const { iterator } = subscribe(hub, fromRevision);
      consumers.push(take(iterator, total - fromRevision).then((got) => ({ from: fromRevision, got })));
    };
    for (let round = 0; round < 30; round += 1) {
      log.append(10);
      hub.poke();
      // From the hub's current revision, from an older one (replay), and from
      // one committed but not yet ingested (catch-up first).
      consume(hub.latestRevision());
      consume(Math.max(0, hub.latestRevision() - 13));
      consume(log.events.length);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(log.events.length).toBe(total);
    for (const { from, got } of await Promise.all(consumers)) {
      expect(got).toEqual(range(from + 1, total));
    }
  });

  it("hands each subscriber what `present` makes of each delivery it takes, from replay, queue and live dispatch alike", async () => {
    const log = new FakeLog();
    log.append(3);
    const hub = await startHub(log);
    const presented: string[] = [];
    const present = (delivery: IteratorYieldResult<WatchItem>) => {
      presented.push(label(delivery.value));
      return { done: false as const, value: `item ${label(delivery.value)}` };
    };
    const iterator = hub.subscribe(1, everything, new AbortController().signal, present);
    const read = async () => (await iterator.next()).value;
    // Replayed, then a waiting next() resolved by dispatch, then queued ones.
    expect([await read(), await read()]).toEqual(["item 2", "item 3"]);
    const waiting = read();
    await commit(log, hub, 3);
    expect(await waiting).toBe("item 4");
    // Once per item handed over: 5 and 6 wait in the queue unpresented.
    expect(presented).toEqual(["2", "3", "4"]);
    expect([await read(), await read()]).toEqual(["item 5", "item 6"]);
    expect(presented).toEqual(["2", "3", "4", "5", "6"]);
  });

  it("resumes from any revision whose following changes are still retained", async () => {
    const log = new FakeLog();
    log.append(25);
    const hub = await startHub(log, { retention: 10 });
    // Start loads revisions 16..25 only.
    expect(await take(subscribe(hub, 15).iterator, 10)).toEqual(range(16, 25));
    await commit(log, hub, 5);
    // 16..20 were evicted; 21..30 remain.
    expect(await take(subscribe(hub, 20).iterator, 10)).toEqual(range(21, 30));
    expect(await take(subscribe(hub, 27).iterator, 3)).toEqual(["28", "29", "30"]);
  });

  it("refuses a revision whose following changes were evicted with RESUME_REVISION_EXPIRED and the oldest retained revision", async () => {
    const log = new FakeLog();
    log.append(25);
    const hub = await startHub(log, { retention: 10 });
    const fromStart = await domainError(subscribe(hub, 14).iterator.next());
    expect(fromStart).toMatchObject({ kind: "failed-precondition", reason: "RESUME_REVISION_EXPIRED", metadata: { oldest_revision: "16" } });
    expect(fromStart.message).toMatch(/re-list and watch again/);
    await commit(log, hub, 5);
    const afterEviction = await domainError(subscribe(hub, 19).iterator.next());
    expect(afterEviction).toMatchObject({ reason: "RESUME_REVISION_EXPIRED", metadata: { oldest_revision: "21" } });
    expect(hub.openStreams()).toBe(0);
  });

  it("catches up first when the resume revision was committed elsewhere but not yet ingested", async () => {
    const log = new FakeLog();
    log.append(3);
    const hub = await startHub(log);
    log.append(4); // another replica committed 4..7; nobody poked this hub
    const { iterator } = subscribe(hub, 6);
    expect(await take(iterator, 1)).toEqual(["7"]);
    expect(hub.latestRevision()).toBe(7);
    await commit(log, hub, 1);
    expect(await take(iterator, 1)).toEqual(["8"]);
  });

  it("refuses a revision beyond the store's latest with RESUME_REVISION_UNKNOWN", async () => {
    const log = new FakeLog();
    log.append(3);
    const hub = await startHub(log);
    const ahead = await domainError(subscribe(hub, 9).iterator.next());
    expect(ahead).toMatchObject({ kind: "invalid-argument", reason: "RESUME_REVISION_UNKNOWN", metadata: { latest_revision: "3" } });
    const negative = await domainError(subscribe(hub, -1).iterator.next());
    expect(negative).toMatchObject({ kind: "invalid-argument", reason: "RESUME_REVISION_UNKNOWN" });
    expect(hub.openStreams()).toBe(0);
  });

  it("delivers only the changes the subscriber's filter matches, in replay and live", async () => {
    const log = new FakeLog();
    log.append(2, "a");
    log.append(2, "b");
    log.append(1, "a");
    const hub = await startHub(log);
    const { iterator } = subscribe(hub, 0, (event) => event.deploymentId === "a");
    expect(await take(iterator, 3)).toEqual(["1", "2", "5"]);
    await commit(log, hub, 3, "b");
    await commit(log, hub, 1, "a");
    expect(await take(iterator, 1)).toEqual(["9"]);
  });
});

describe("watch hub: heartbeats", () => {
  it("sends heartbeats carrying the latest revision, queued behind pending changes", async () => {
    const log = new FakeLog();
    log.append(3);
    const hub = await startHub(log, { heartbeatMs: 15 });
    const { iterator } = subscribe(hub, 3);
    await commit(log, hub, 2);
    // Several ticks pass while the consumer does not pull; the newest heartbeat replaces older queued ones.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await take(iterator, 3)).toEqual(["4", "5", "♥5"]);
    // A waiting consumer gets the next tick.
    expect(await take(iterator, 1)).toEqual(["♥5"]);
  });

  it("reaches filtered subscribers with no matching changes too", async () => {
    const log = new FakeLog();
    const hub = await startHub(log, { heartbeatMs: 15 });
    const { iterator } = subscribe(hub, 0, () => false);
    await commit(log, hub, 4);
    expect(await take(iterator, 1)).toEqual(["♥4"]);
  });
});

describe("watch hub: slow, stopped and closed subscribers", () => {
  it("cuts off a stalled subscriber with WATCHER_TOO_SLOW and the revision it last took, while a fast one gets everything", async () => {
    const log = new FakeLog();
    // A batch is dispatched in one go; a consumer that keeps up drains its queue between reads.
    log.slow = true;
    const hub = await startHub(log, { queueLimit: 5, batchSize: 3 });
    const stalled = subscribe(hub, 0);
    const fast = subscribe(hub, 0);
    await commit(log, hub, 2);
    expect(await take(stalled.iterator, 2)).toEqual(["1", "2"]);
    // Dispatch never waits for the stalled consumer.
    const fastGot = take(fast.iterator, 32);
    await commit(log, hub, 30);
    expect(await fastGot).toEqual(range(1, 32));
    expect(hub.openStreams()).toBe(1);

    const error = await domainError(stalled.iterator.next());
    expect(error).toMatchObject({ kind: "resource-exhausted", reason: "WATCHER_TOO_SLOW", metadata: { resume_revision: "2" } });
    expect(error.message).toMatch(/resume from revision 2/);
    expect(await stalled.iterator.next()).toEqual({ done: true, value: undefined });
    // Resuming where it was cut off loses nothing.
    expect(await take(subscribe(hub, 2).iterator, 30)).toEqual(range(3, 32));
  });

  it("counts a taken heartbeat as the resume point of a cut-off subscriber", async () => {
    const log = new FakeLog();
    log.append(4, "other");
    const hub = await startHub(log, { queueLimit: 3, heartbeatMs: 10 });
    const { iterator } = subscribe(hub, 0, (event) => event.deploymentId === "mine");
    expect(await take(iterator, 1)).toEqual(["♥4"]);
    await commit(log, hub, 10, "mine");
    expect(await domainError(iterator.next())).toMatchObject({ reason: "WATCHER_TOO_SLOW", metadata: { resume_revision: "4" } });
  });

  it("cuts off a replaying subscriber whose next changes were evicted before it read them", async () => {
    const log = new FakeLog();
    log.append(10);
    const hub = await startHub(log, { retention: 10 });
    const { iterator } = subscribe(hub, 0);
    expect(await take(iterator, 2)).toEqual(["1", "2"]);
    await commit(log, hub, 20);
    expect(await domainError(iterator.next())).toMatchObject({ reason: "WATCHER_TOO_SLOW", metadata: { resume_revision: "2" } });
  });

  it("removes a subscription at once when its signal aborts or its consumer stops", async () => {
    const log = new FakeLog();
    const hub = await startHub(log);
    const aborted = subscribe(hub, 0);
    const broken = subscribe(hub, 0);
    subscribe(hub, 0);
    expect(hub.openStreams()).toBe(3);

    const pending = aborted.iterator.next();
    aborted.controller.abort();
    expect(hub.openStreams()).toBe(2);
    expect(await pending).toEqual({ done: true, value: undefined });

    const consumed: string[] = [];
    const loop = (async () => {
      for await (const item of { [Symbol.asyncIterator]: () => broken.iterator }) {
        consumed.push(label(item));
        break;
      }
    })();
    await commit(log, hub, 1);
    await loop;
    expect(consumed).toEqual(["1"]);
    expect(hub.openStreams()).toBe(1);

    const alreadyAborted = new AbortController();
    alreadyAborted.abort();
    const late = hub.subscribe(0, everything, alreadyAborted.signal)[Symbol.asyncIterator]();
    expect(hub.openStreams()).toBe(1);
    expect(await late.next()).toEqual({ done: true, value: undefined });
  });

  it("close() ends every subscription with SERVER_STOPPING and the revision it last took, and stops timers and the listener", async () => {
    const log = new FakeLog();
    log.append(3);
    let stopped = 0;
    const hub = await startHub(log, {
      listen: async () => async () => {
        stopped += 1;
      },
    });
    const waiting = subscribe(hub, 3);
    const behind = subscribe(hub, 0);
    expect(await take(behind.iterator, 1)).toEqual(["1"]);
    const pending = waiting.iterator.next();
    await hub.close();

    expect(stopped).toBe(1);
    expect(hub.openStreams()).toBe(0);
    const first = await domainError(pending);
    expect(first).toMatchObject({ kind: "unavailable", reason: "SERVER_STOPPING", metadata: { resume_revision: "3" } });
    expect(await domainError(behind.iterator.next())).toMatchObject({ reason: "SERVER_STOPPING", metadata: { resume_revision: "1" } });
    expect(await domainError(subscribe(hub, 2).iterator.next())).toMatchObject({ reason: "SERVER_STOPPING", metadata: { resume_revision: "2" } });
  });
});

describe("watch hub: reading the log", () => {
  it("reads in batches until caught up", async () => {
    const log = new FakeLog();
    const hub = await startHub(log, { batchSize: 10 });
    log.reads = 0;
    await commit(log, hub, 25);
    expect(log.reads).toBe(3);
  });

  it("coalesces concurrent pokes: one read at a time, at most one more after it", async () => {
    const log = new FakeLog();
    const hub = await startHub(log);
    let open!: () => void;
    log.gate = new Promise((resolve) => (open = resolve));
    log.reads = 0;
    log.append(1);
    for (let i = 0; i < 100; i += 1) hub.poke();
    log.append(1);
    for (let i = 0; i < 100; i += 1) hub.poke();
    expect(log.reads).toBe(1);
    open();
    await waitFor(() => hub.latestRevision() === 2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.reads).toBe(2);
  });

  it("loads only the last `retention` events at start", async () => {
    const log = new FakeLog();
    log.append(1_000);
    const hub = await startHub(log, { retention: 100, batchSize: 30 });
    expect(hub.latestRevision()).toBe(1_000);
    expect(log.reads).toBe(4);
  });

  it("polls the log for commits nobody poked about", async () => {
    const log = new FakeLog();
    const hub = await startHub(log, { pollMs: 10 });
    const { iterator } = subscribe(hub, 0);
    log.append(2);
    expect(await take(iterator, 2)).toEqual(["1", "2"]);
  });

  it("reads the log when the listener reports a commit", async () => {
    const log = new FakeLog();
    let notify!: () => void;
    const hub = await startHub(log, {
      listen: async (onNotify) => {
        notify = onNotify;
        return async () => undefined;
      },
    });
    log.append(3);
    notify();
    await waitFor(() => hub.latestRevision() === 3);
  });
});

describe("watch hub at scale", () => {
  it("keeps an idle subscriber well under 1 KB and reaches 10,000 of them in one tight dispatch", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const log = new FakeLog();
    const hub = await startHub(log);
    const count = 10_000;
    // The callers' signals are not the hub's cost: made before the baseline
    // (AbortController makes its signal lazily, on first access).
    const controllers = Array.from({ length: count }, () => new AbortController());
    const signals = controllers.map((controller) => controller.signal);
    const matches = () => true;
    gc();
    const before = process.memoryUsage().heapUsed;
    const iterators = signals.map((signal) => hub.subscribe(0, matches, signal)[Symbol.asyncIterator]());
    // Idle means waiting in next(), as a handler blocked in for-await is.
    let pending = iterators.map((iterator) => iterator.next());
    gc();
    const perSubscriber = (process.memoryUsage().heapUsed - before) / count;
    console.log(`idle watch subscription: ${Math.round(perSubscriber)} bytes each (heap delta / ${count})`);
    expect(perSubscriber).toBeLessThan(1024);
    expect(hub.openStreams()).toBe(count);

    for (let revision = 1; revision <= 5; revision += 1) {
      log.append(1);
      const started = performance.now();
      hub.poke();
      const results = await Promise.all(pending);
      const elapsed = performance.now() - started;
      expect(results.every((result) => !result.done && label(result.value) === String(revision))).toBe(true);
      console.log(`poke to all ${count} waiting subscribers holding revision ${revision}: ${elapsed.toFixed(1)} ms`);
      pending = iterators.map((iterator) => iterator.next());
    }
    for (const controller of controllers) controller.abort();
    expect(hub.openStreams()).toBe(0);
    expect((await Promise.all(pending)).every((result) => result.done)).toBe(true);
  });
});

const postgresUrl = await reachablePostgresUrl();

describe.skipIf(postgresUrl === undefined)("createPostgresListener on PostgreSQL", () => {
  it("calls onNotify for every pg_notify on its channel, reconnects after losing its connection, and stops", async () => {
    const url = new URL(postgresUrl!);
    url.searchParams.set("schema", "lp_watch_unused"); // stripped: pg never sees it
    const channel = `lp_watch_${process.pid}_${Date.now()}`;
    const errors: unknown[] = [];
    let notified = 0;
    const listen = createPostgresListener(url.toString(), channel, { minBackoffMs: 10, onError: (error) => errors.push(error) });
    const stop = await listen(() => {
      notified += 1;
    });
    const other = new pg.Client({ connectionString: postgresUrl });
    await other.connect();
    try {
      // One call after connecting covers anything missed before LISTEN.
      expect(notified).toBe(1);
      await other.query("select pg_notify($1, '7')", [channel]);
      await other.query("select pg_notify($1, '8')", [`${channel}_other`]);
      await waitFor(() => notified === 2);

      const terminated = await other.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where query = $1 and pid <> pg_backend_pid()",
        [`LISTEN "${channel}"`],
      );
      expect(terminated.rowCount).toBe(1);
      // Reconnecting calls onNotify once more; then notifications flow again.
      await waitFor(() => notified === 3);
      expect(errors.length).toBeGreaterThan(0);
      await other.query("select pg_notify($1, '9')", [channel]);
      await waitFor(() => notified === 4);

      await stop();
      await other.query("select pg_notify($1, '10')", [channel]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(notified).toBe(4);
    } finally {
      await stop();
      await other.end();
    }
  });
});
