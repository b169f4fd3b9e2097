import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { capturedLogger } from "../support/captured-logger.js";
import { freePort } from "../support/free-port.js";
import { startTestDeployments, type TestDeploymentsService } from "../support/deployments-service.js";
import { codeName, edgeFailureOf, edgeProtocols, recordStream, within, type EdgeClient, type StreamRecording } from "../support/edge-protocols.js";
import { runLaunchpad, type ProgramRun } from "../support/program.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

/** A deployments service that a test can take down and bring back on the same port. */
interface Outage {
  start(): Promise<void>;
  takeDown(): Promise<void>;
  cleanUp(): Promise<void>;
}

/** The real program (`launchpad --target=deployments`) in a child process, killed with SIGKILL: no goodbye, connections reset. */
function killedProcess(port: number, usersAddress: string): Outage {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-outage-"));
  let run: ProgramRun | undefined;
  return {
    async start() {
      run = runLaunchpad(["--target=deployments"], {
        LAUNCHPAD_DEPLOYMENTS_PORT: String(port),
        LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0",
        LAUNCHPAD_USERS_ADDRESS: usersAddress,
        LAUNCHPAD_DATA_DIR: dataDir,
        LAUNCHPAD_LOG_LEVEL: "warn",
      });
      await run.waitForStdout(/deployments\s+gRPC 127\.0\.0\.1:\d+/, 60_000);
    },
    async takeDown() {
      run!.child.kill("SIGKILL");
      await run!.waitForExit();
    },
    async cleanUp() {
      if (run && run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill("SIGKILL");
        await run.waitForExit();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The service in this process, stopped as on SIGTERM: open streams are ended by the service itself. */
function stoppedInProcess(port: number, users: TestUsersService): Outage {
  let service: TestDeploymentsService | undefined;
  return {
    async start() {
      service = await startTestDeployments(users, { LAUNCHPAD_DEPLOYMENTS_PORT: String(port), LAUNCHPAD_SHUTDOWN_GRACE: "1s" });
    },
    async takeDown() {
      await service!.stop();
      service = undefined;
    },
    async cleanUp() {
      await service?.stop();
    },
  };
}

describe.each([
  { how: "killed (SIGKILL)", killed: true },
  { how: "stopped (graceful shutdown)", killed: false },
])("the deployments service $how while watches are open through the edge", ({ killed }) => {
  let users: TestUsersService;
  let port: number;
  let outage: Outage;
  let edge: RunningEdge;
  let clients: { name: string; client: EdgeClient }[];
  let bearer: Record<string, string>;
  /** A deployment made before the outage; it outlives a kill (same data directory), not an in-process restart (fresh store). */
  let before: string;

  beforeAll(async () => {
    users = await startTestUsers();
    port = await freePort();
    outage = killed ? killedProcess(port, users.address) : stoppedInProcess(port, users);
    await outage.start();
    const { logger } = capturedLogger("edge");
    edge = await startEdge(
      loadEdgeConfig({
        env: {
          LAUNCHPAD_EDGE_PORT: "0",
          LAUNCHPAD_USERS_ADDRESS: users.address,
          LAUNCHPAD_DEPLOYMENTS_ADDRESS: `127.0.0.1:${port}`,
          LAUNCHPAD_SHUTDOWN_GRACE: "1s",
        },
        argv: [],
      }),
      logger,
    );
    bearer = { authorization: `Bearer ${await users.login(admin.email, admin.password)}` };
    clients = edgeProtocols.map((protocol) => ({ name: protocol.name, client: protocol.client(`http://127.0.0.1:${edge.port}`) }));
    const created = await clients[0]!.client.createDeployment({ deployment: { service: "outage", version: "1.0.0", environment: "staging" } }, { headers: bearer });
    before = created.deployment!.name;
  });

  afterAll(async () => {
    for (const { client } of clients ?? []) client.close();
    await edge?.stop();
    await outage?.cleanUp();
    await users?.stop();
  });

  it("ends every protocol's open watch with UNAVAILABLE: no hang, no INTERNAL", async () => {
    const watches: StreamRecording<unknown>[] = clients.map(({ client }) => recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal })));
    try {
      await Promise.all(watches.map((watch, i) => watch.until((m) => m.length > 0, `${clients[i]!.name}: the snapshot`)));
      await outage.takeDown();
      const ends = await within(Promise.all(watches.map((w) => w.ended)), 20_000, "the watches to end after the outage");
      const codes = Object.fromEntries(ends.map((end, i) => [clients[i]!.name, end.how === "failed" ? codeName(end.failure.code) : end.how]));
      expect(codes).toEqual(Object.fromEntries(clients.map(({ name }) => [name, "Unavailable"])));
    } finally {
      for (const watch of watches) watch.abort();
    }
  });

  it("answers calls and watches made while it is down with UNAVAILABLE", async () => {
    const outcomes: Record<string, string> = {};
    for (const { name, client } of clients) {
      const call = await within(edgeFailureOf(client.getDeployment({ name: before }, { headers: bearer })), 15_000, `${name}: GetDeployment while down`);
      const watch = recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal }));
      const end = await within(watch.ended, 15_000, `${name}: WatchDeployments while down`);
      outcomes[name] = `${codeName(call.code)}, watch ${end.how === "failed" ? codeName(end.failure.code) : end.how}`;
    }
    expect(outcomes).toEqual(Object.fromEntries(clients.map(({ name }) => [name, "Unavailable, watch Unavailable"])));
  });

  it("recovers once the service is back on the same port, without restarting the edge: calls and new watches work", async () => {
    await outage.start();
    const created = await retryUntilServed(() =>
      clients[0]!.client.createDeployment({ deployment: { service: "after-outage", version: "1.0.0", environment: "staging" } }, { headers: bearer }),
    );
    const after = created.deployment!.name;
    for (const { name, client } of clients) {
      const got = await retryUntilServed(() => client.getDeployment({ name: after }, { headers: bearer }));
      expect(got.deployment?.name, name).toBe(after);
      if (killed) expect((await client.getDeployment({ name: before }, { headers: bearer })).deployment?.name, name).toBe(before);

      const watch = recordStream((signal) => client.watchDeployments({}, { headers: bearer, signal }));
      try {
        await watch.until((m) => m.some((r) => r.kind.case === "snapshot"), `${name}: a snapshot after the restart`);
        const snapshot = watch.messages.find((r) => r.kind.case === "snapshot")!.kind.value as { deployments: { name: string }[] };
        expect(snapshot.deployments.map((d) => d.name), name).toContain(after);
      } finally {
        watch.abort();
        await watch.ended;
      }
    }
  });
});

/**
 * Retries a call while it fails with UNAVAILABLE (a reconnecting channel
 * backs off between attempts); the bound only guards against a hang.
 */
async function retryUntilServed<T>(call: () => Promise<T>, boundMs = 30_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const failure = await call().then(
      (result) => ({ result }),
      async (error: unknown) => ({ failure: await edgeFailureOf(Promise.reject(error)) }),
    );
    if ("result" in failure) return failure.result;
    if (codeName(failure.failure.code) !== "Unavailable") throw new Error(`expected success or UNAVAILABLE, got ${codeName(failure.failure.code)}: ${failure.failure.message}`);
    if (Date.now() > deadline) throw new Error(`still UNAVAILABLE after ${boundMs} ms: ${failure.failure.message}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
