import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createChannel, Status, type Channel } from "nice-grpc";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DeploymentState as State, type DeploymentEvent } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService, type WatchDeploymentsResponse } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { DeploymentClient } from "../support/deployments-service.js";
import { failureOf } from "../support/grpc-errors.js";
import { reachablePostgresUrl } from "../support/postgres-server.js";
import { killLaunchpads, runLaunchpad, type ProgramRun } from "../support/program.js";
import { createServiceAccountKey } from "../support/service-accounts.js";
import { typedClient } from "../support/typed-client.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";
import { changeEventsOf, changeRevisionsOf, eventKey, recordWatch, type WatchRecording } from "../support/watching.js";

// Skipped with a warning when PostgreSQL is unreachable on a developer
// machine; failing when CI (or LAUNCHPAD_TEST_POSTGRES_URL) is set.
const postgresUrl = await reachablePostgresUrl();

/** A `launchpad --target=deployments` child process and a client of it. */
interface Replica {
  name: string;
  run: ProgramRun;
  address: string;
  client: DeploymentClient;
}

/** Replicas on one database share the server secret (page tokens cross them). */
const secretKey = randomBytes(32).toString("base64");
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.skipIf(postgresUrl === undefined)("two deployments replicas (child processes) on one PostgreSQL schema", () => {
  const schema = `lp_test_${randomBytes(6).toString("hex")}`;
  const dataDirs: string[] = [];
  const channels: Channel[] = [];
  const recordings: Array<WatchRecording<WatchDeploymentsResponse>> = [];
  let users: TestUsersService;
  let adminToken: string;
  let agentKey: string;
  let a: Replica;
  let b: Replica;

  /** Starts `launchpad --target=deployments` on ephemeral ports and reads its address from the banner. */
  async function startReplica(name: string): Promise<Replica> {
    const url = new URL(postgresUrl!);
    url.searchParams.set("schema", schema);
    const dataDir = mkdtempSync(join(tmpdir(), `launchpad-replica-${name}-`));
    dataDirs.push(dataDir);
    const run = runLaunchpad(["--target=deployments"], {
      LAUNCHPAD_DATA_DIR: dataDir,
      LAUNCHPAD_DEPLOYMENTS_PORT: "0",
      LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0",
      LAUNCHPAD_DEPLOYMENTS_DATABASE_URL: url.toString(),
      LAUNCHPAD_SECRET_KEY: secretKey,
      LAUNCHPAD_USERS_ADDRESS: users.address,
      LAUNCHPAD_WATCH_HEARTBEAT: "200ms",
      LAUNCHPAD_LOG_LEVEL: "warn",
    });
    const [, host, port] = await run.waitForStdout(/deployments\s+gRPC\s+([\w.]+):(\d+)\s/, 30_000);
    const address = `${host}:${port}`;
    const channel = createChannel(address);
    channels.push(channel);
    const client = typedClient(DeploymentService, channel);
    return { name, run, address, client };
  }

  const asAdmin = () => users.auth(adminToken);
  const asAgent = () => users.auth(agentKey);

  function watch(replica: Replica, resumeRevision = 0n) {
    const recording = recordWatch<WatchDeploymentsResponse>((signal) =>
      replica.client.watchDeployments({ resumeRevision }, { ...asAdmin(), signal }),
    );
    recordings.push(recording);
    return recording;
  }

  /** Creates a deployment through `create` and drives it to `end` through `drive`, one call at a time. */
  async function ship(service: string, create: Replica, drive: Replica, end: State = State.SUCCEEDED) {
    const { deployment } = await create.client.createDeployment({ deployment: { service, version: "1.0.0", environment: "production" } }, asAdmin());
    await drive.client.reportDeploymentProgress({ name: deployment!.name, state: State.IN_PROGRESS }, asAgent());
    await create.client.reportDeploymentProgress({ name: deployment!.name, progressPercent: 50 }, asAgent());
    return (await drive.client.reportDeploymentProgress({ name: deployment!.name, state: end }, asAgent())).deployment!;
  }

  /** Every event in the schema, by revision, read through `replica`. */
  async function history(replica: Replica): Promise<DeploymentEvent[]> {
    const names: string[] = [];
    let pageToken = "";
    do {
      const page = await replica.client.listDeployments({ pageSize: 1000, pageToken }, asAdmin());
      names.push(...page.deployments.map((d) => d.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    const events = await Promise.all(names.map(async (parent) => (await replica.client.listDeploymentEvents({ parent, pageSize: 1000 }, asAdmin())).events));
    return events.flat().sort((x, y) => Number(x.revision - y.revision));
  }

  async function query(text: string): Promise<unknown[]> {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    users = await startTestUsers();
    adminToken = await users.login(admin.email, admin.password);
    agentKey = (await createServiceAccountKey(users, adminToken, "agent@example.com")).secret;
    // Started together: both migrate the same new schema at once.
    [a, b] = await Promise.all([startReplica("a"), startReplica("b")]);
  }, 90_000);

  afterEach(() => {
    for (const recording of recordings.splice(0)) recording.abort();
  });

  afterAll(async () => {
    for (const channel of channels.splice(0)) channel.close();
    await killLaunchpads();
    await users?.stop();
    for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    await query(`drop schema if exists ${schema} cascade`);
  });

  it("every change written through replica B reaches a watcher on replica A, in order, without a gap", async () => {
    const onA = watch(a);
    await onA.until((m) => m.length >= 1, "the snapshot");
    expect(onA.messages[0]!.kind.case).toBe("snapshot");
    const from = Number(onA.messages[0]!.revision);

    const shipped = [];
    for (const service of ["orders", "payments", "search"]) shipped.push(await ship(service, b, b));
    const expected = (await history(b)).filter((e) => Number(e.revision) > from);
    expect(expected).toHaveLength(3 * 4);

    await onA.until((m) => changeEventsOf(m).length >= expected.length, `${expected.length} changes on A`);
    expect(changeEventsOf(onA.messages).map(eventKey)).toEqual(expected.map(eventKey));
    expect(changeRevisionsOf(onA.messages)).toEqual(range(from + 1, from + expected.length));
    expect(shipped.map((d) => d.state)).toEqual([State.SUCCEEDED, State.SUCCEEDED, State.SUCCEEDED]);
  });

  it("concurrent creates for one service and environment through both replicas: exactly one wins, the rest are ABORTED naming it", async () => {
    for (let round = 0; round < 3; round += 1) {
      const attempts = Array.from({ length: 8 }, (_, i) =>
        (i % 2 === 0 ? a : b).client.createDeployment(
          { deployment: { service: "contended", version: `${round}.${i}`, environment: "production" } },
          asAdmin(),
        ),
      );
      const settled = await Promise.allSettled(attempts);
      const winners = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.deployment!] : []));
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      for (const [i, attempt] of attempts.entries()) {
        if (settled[i]!.status === "fulfilled") continue;
        const failure = await failureOf(attempt);
        expect([failure.code, failure.reason, failure.metadata.deployment]).toEqual([Status.ABORTED, "DEPLOYMENT_IN_PROGRESS", winner.name]);
      }
      const listed = await b.client.listDeployments({ filter: 'service = "contended" AND state = DEPLOYMENT_STATE_PENDING' }, asAdmin());
      expect(listed.deployments.map((d) => d.name)).toEqual([winner.name]);
      // Finish it, so the next round races again.
      await a.client.reportDeploymentProgress({ name: winner.name, state: State.FAILED }, asAgent());
    }
  });

  it("writes through both replicas at once: both watchers see the same changes, and revisions have no gap", async () => {
    const onA = watch(a);
    const onB = watch(b);
    await Promise.all([onA, onB].map((w) => w.until((m) => m.length >= 1, "the snapshot")));
    const from = Number(onA.messages[0]!.revision);
    expect(Number(onB.messages[0]!.revision)).toBe(from);

    await Promise.all(
      Array.from({ length: 8 }, (_, i) => ship(`concurrent-${i}`, i % 2 === 0 ? a : b, i % 2 === 0 ? b : a, i % 3 === 0 ? State.FAILED : State.SUCCEEDED)),
    );
    const all = await history(a);
    const expected = all.filter((e) => Number(e.revision) > from);
    expect(expected).toHaveLength(8 * 4);

    for (const watcher of [onA, onB]) {
      await watcher.until((m) => changeEventsOf(m).length >= expected.length, `${expected.length} changes`);
      expect(changeEventsOf(watcher.messages).map(eventKey)).toEqual(expected.map(eventKey));
    }
    // The whole history of the schema, aborted creates included, is numbered 1, 2, 3, … with no gap.
    expect(all.map((e) => Number(e.revision))).toEqual(range(1, all.length));
    expect((await history(b)).map(eventKey)).toEqual(all.map(eventKey));
    // …and it is the one history in the shared schema, not one per replica.
    const counted = await query(`select count(*)::int as events, max(revision)::int as latest from ${schema}.deployment_events`);
    expect(counted).toEqual([{ events: all.length, latest: all.length }]);

    // A watcher resuming on the other replica from any revision continues exactly there.
    const middle = Number(expected[Math.floor(expected.length / 2)]!.revision);
    const resumed = watch(b, BigInt(middle));
    const rest = expected.filter((e) => Number(e.revision) > middle);
    await resumed.until((m) => changeEventsOf(m).length >= rest.length, `${rest.length} changes after resuming`);
    expect(changeEventsOf(resumed.messages).map(eventKey)).toEqual(rest.map(eventKey));
  });
});
