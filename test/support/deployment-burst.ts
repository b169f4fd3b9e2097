// A child process for the crash-safety suite: opens the deployment store at the
// location given as JSON in argv[2] and creates deployments for distinct
// services as fast as it can, four at a time, moving every other one to
// IN_PROGRESS. Each write is acknowledged on stdout ("created <id>",
// "updated <id> <generation>") only once the store has resolved it; stdout is
// a pipe, which Node writes synchronously on Linux, so an acknowledgement
// printed is never lost with the process. It stops by itself after a minute,
// in case nobody kills it.
import { DeploymentEventType, DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { openDeploymentStore } from "../../services/deployments/store/index.js";
import type { StoreLocation } from "./databases.js";

const location = JSON.parse(process.argv[2] ?? "") as StoreLocation;
const store = await openDeploymentStore(location);
const deadline = Date.now() + 60_000;
let next = 0;

async function worker(): Promise<void> {
  while (Date.now() < deadline) {
    const n = next++;
    const id = `burst-${String(n).padStart(6, "0")}`;
    await store.create(
      {
        id,
        service: `service-${n}`,
        version: "1.0.0",
        environment: "production",
        description: "",
        labels: {},
        creator: "users/burst",
        rollbackOf: null,
        createTime: new Date(),
      },
      { requestId: `request-${n}`, fingerprint: "burst" },
    );
    process.stdout.write(`created ${id}\n`);
    if (n % 2 === 0) {
      const { deployment } = await store.update(
        id,
        () => ({
          patch: { state: DeploymentState.IN_PROGRESS, startTime: new Date() },
          event: { type: DeploymentEventType.STATE_CHANGED, message: "started", actor: "users/burst" },
        }),
        1,
        new Date(),
      );
      process.stdout.write(`updated ${id} ${deployment.generation}\n`);
    }
  }
}

await Promise.all([worker(), worker(), worker(), worker()]);
await store.close();
