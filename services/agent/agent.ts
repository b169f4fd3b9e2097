import { setTimeout as sleep } from "node:timers/promises";
import { isAbortError } from "abort-controller-x";
import { ClientError, Metadata, Status, createChannel, createClient, type Channel } from "nice-grpc";
import { DeploymentState as State, type Deployment } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { toNiceService } from "../kit/grpc/service-definition.js";
import type { Logger } from "../kit/logger.js";

/** How the demo agent behaves. */
export interface AgentOptions {
  deploymentsAddress: string;
  apiKey: string;
  /** Time between progress reports. */
  stepMs: number;
  /** Share of deployments to fail, 0 to 1. */
  failureRate: number;
  logger: Logger;
  random?: () => number;
}

/**
 * A deploy agent for demos and tests, and a real gRPC client of
 * DeploymentService: it watches for PENDING deployments and drives each
 * through IN_PROGRESS with rising progress to SUCCEEDED (or, for a share of
 * them, FAILED), confirming cancellations it is asked for. Several agents
 * may run: the first to report IN_PROGRESS owns a deployment.
 */
export function startAgent(options: AgentOptions): { stop(): Promise<void> } {
  const channel: Channel = createChannel(options.deploymentsAddress, undefined, { "grpc.keepalive_time_ms": 30_000 });
  const client = createClient(toNiceService(DeploymentService), channel, {
    "*": { metadata: Metadata({ authorization: `Bearer ${options.apiKey}` }) },
  });
  const random = options.random ?? Math.random;
  const stopping = new AbortController();
  const active = new Map<string, Promise<void>>();
  const { logger } = options;

  const report = (name: string, state: State, progressPercent: number, statusMessage: string) =>
    client.reportDeploymentProgress({ name, state, progressPercent, statusMessage }, { signal: stopping.signal });

  async function drive(deployment: Deployment): Promise<void> {
    const { name } = deployment;
    try {
      await report(name, State.IN_PROGRESS, 5, `rolling out ${deployment.service}@${deployment.version}`);
      for (let progress = 10; progress < 100; progress += 10 + Math.floor(random() * 15)) {
        await sleep(options.stepMs, undefined, { signal: stopping.signal });
        const { deployment: current } = await report(name, State.UNSPECIFIED, progress, `${progress}% of instances updated`);
        if (current?.state === State.CANCELLING) {
          await report(name, State.CANCELLED, 0, "rollout stopped on request");
          return;
        }
      }
      await sleep(options.stepMs, undefined, { signal: stopping.signal });
      if (random() < options.failureRate) await report(name, State.FAILED, 0, "health checks failed on the new version");
      else await report(name, State.SUCCEEDED, 100, "all instances healthy");
    } catch (error) {
      // Another agent took it, or it was cancelled while PENDING: not ours to drive.
      if (error instanceof ClientError && error.code === Status.FAILED_PRECONDITION) return;
      if (!isAbortError(error)) logger.warn({ err: error, deployment: name }, "driving a deployment failed");
    }
  }

  async function watch(): Promise<void> {
    let resumeRevision = 0n;
    while (!stopping.signal.aborted) {
      try {
        const stream = client.watchDeployments(
          { filter: "state = DEPLOYMENT_STATE_PENDING", resumeRevision },
          { signal: stopping.signal },
        );
        for await (const message of stream) {
          resumeRevision = message.revision;
          const found =
            message.kind.case === "snapshot" ? message.kind.value.deployments
            : message.kind.case === "change" ? [message.kind.value.deployment!]
            : [];
          for (const deployment of found) {
            if (deployment.state !== State.PENDING || active.has(deployment.name)) continue;
            const run = drive(deployment).finally(() => active.delete(deployment.name));
            active.set(deployment.name, run);
          }
        }
      } catch (error) {
        if (stopping.signal.aborted) break;
        if (error instanceof ClientError && error.code === Status.FAILED_PRECONDITION) resumeRevision = 0n;
        logger.warn({ err: error }, "watch ended; reconnecting");
        await sleep(1_000, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  const watching = watch();
  return {
    async stop() {
      stopping.abort();
      await Promise.allSettled([watching, ...active.values()]);
      channel.close();
    },
  };
}
