import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { DeploymentEventType, DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { openDeploymentStore } from "../../services/deployments/store/index.js";
import { storeTargets, type StoreLocation } from "../support/databases.js";

const burstScript = fileURLToPath(new URL("../support/deployment-burst.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const killAfter = 200;

/** What the burst process acknowledged before it was killed: created ids, and the generation each update reached. */
interface Acknowledged {
  created: string[];
  updated: Map<string, number>;
}

/**
 * Runs the burst script against `location`, SIGKILLs it once it has
 * acknowledged `killAfter` creates, and returns every complete acknowledgement
 * line it printed, including those still in the pipe when it died.
 */
function burstThenKill(location: StoreLocation): Promise<Acknowledged> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", burstScript, JSON.stringify(location)], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let errors = "";
    let killed = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      if (!killed && output.split("\n").filter((line) => line.startsWith("created ")).length >= killAfter) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (errors += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal !== "SIGKILL") {
        reject(new Error(`the burst process ended by itself (code ${code}):\n${errors}`));
        return;
      }
      // A line without its newline was cut by the kill: not an acknowledgement.
      const lines = output.split("\n").slice(0, -1);
      const created = lines.filter((line) => line.startsWith("created ")).map((line) => line.split(" ")[1]!);
      const updated = new Map(
        lines.filter((line) => line.startsWith("updated ")).map((line) => {
          const [, id, generation] = line.split(" ");
          return [id!, Number(generation)] as const;
        }),
      );
      resolve({ created, updated });
    });
  });
}

describe.each(await storeTargets())("kill -9 during a burst of creates on $name", (target) => {
  afterAll(() => target.cleanup());

  it("loses no acknowledged write and leaves revisions 1..N and sequences 1..n without gap or duplicate", { timeout: 90_000 }, async () => {
    const location = target.fresh();
    const acknowledged = await burstThenKill(location);
    expect(acknowledged.created.length).toBeGreaterThanOrEqual(killAfter);

    const store = await openDeploymentStore(location);
    try {
      for (const id of acknowledged.created) {
        const deployment = await store.get(id);
        expect(deployment, `acknowledged deployment ${id}`).toBeDefined();
        const [created] = await store.listEvents(id, 0, 1);
        expect(created).toMatchObject({ deploymentId: id, sequence: 1, type: DeploymentEventType.CREATED });
      }
      for (const [id, generation] of acknowledged.updated) {
        expect(await store.get(id), `acknowledged update of ${id}`).toMatchObject({
          state: DeploymentState.IN_PROGRESS,
          generation,
        });
      }

      const events = await store.eventsAfter(0, 1_000_000);
      expect(events.map((event) => event.revision)).toEqual(events.map((_, i) => i + 1));
      expect(await store.latestRevision()).toBe(events.length);
      const sequences = new Map<string, number[]>();
      for (const event of events) {
        sequences.set(event.deploymentId, [...(sequences.get(event.deploymentId) ?? []), event.sequence]);
      }
      for (const [id, seen] of sequences) expect(seen, `sequences of ${id}`).toEqual(seen.map((_, i) => i + 1));
      const { totalSize } = await store.list({ filter: [], order: { field: "create_time", descending: false }, limit: 1 });
      expect(totalSize).toBe(sequences.size);

      // The store goes on from where the killed process left off.
      const { events: next } = await store.create(
        {
          id: "after-the-crash",
          service: "after",
          version: "1",
          environment: "production",
          description: "",
          labels: {},
          creator: "users/test",
          rollbackOf: null,
          createTime: new Date(),
        },
        undefined,
      );
      expect(next.map((event) => event.revision)).toEqual([events.length + 1]);
    } finally {
      await store.close();
    }
  });
});
