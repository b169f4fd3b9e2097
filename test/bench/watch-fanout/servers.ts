/** The two servers of the watch fan-out benchmark, each with a way to commit one change. */
import { Client, Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import { createChannel, createClient, Metadata as NiceMetadata, type Channel } from "nice-grpc";
import { DeploymentService } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { toNiceService } from "../../../services/kit/grpc/service-definition.js";
import { startBenchDeployments } from "../support/bench-stack.js";
import type { PinnedChild } from "../support/pinned-child.js";
import { startPinnedChild } from "../support/pinned-child.js";
import type { BareFanoutReady } from "./bare-child.js";
import { firePath } from "./fire.js";

/** A server holding watch streams, and the client that commits changes to it. */
export interface FanoutServer {
  child: PinnedChild<unknown>;
  address: string;
  /** Commits one change (the k-th) and resolves with its revision once the server acknowledged it. */
  commit(k: number): Promise<bigint>;
  /** Closes the committing client and stops the server. */
  stop(): Promise<void>;
}

/**
 * The real deployments service on SQLite in `dataDir`, pinned to `cpu`;
 * changes are CreateDeployment calls (a new service each, a unique
 * request_id) made with the admin's token.
 */
export async function startChainFanout(options: { cpu: number; dataDir: string; usersAddress: string; token: string; tag: string }): Promise<FanoutServer> {
  const deployments = await startBenchDeployments({
    name: "deployments service",
    cpu: options.cpu,
    dataDir: options.dataDir,
    usersAddress: options.usersAddress,
    env: {
      // No heartbeat during a run: only the measured changes travel.
      LAUNCHPAD_WATCH_HEARTBEAT: "10m",
      LAUNCHPAD_WATCH_QUEUE_LIMIT: "1000",
    },
  });
  const channel: Channel = createChannel(deployments.address);
  const client = createClient(toNiceService(DeploymentService), channel);
  const metadata = NiceMetadata({ authorization: `Bearer ${options.token}` });
  return {
    child: deployments.child,
    address: deployments.address,
    async commit(k) {
      const id = `${options.tag}-${k}`;
      const response = await client.createDeployment(
        { deployment: { service: id, version: "1.0.0", environment: "bench", description: "watch fan-out benchmark" }, requestId: id },
        { metadata },
      );
      return response.deployment!.revision;
    },
    async stop() {
      channel.close();
      await deployments.child.stop();
    },
  };
}

/** The bare grpc-js server, sending `snapshot` on every new stream and `change` (with a new revision) on Fire. */
export async function startBareFanout(options: { cpu: number; snapshot: string; change: string }): Promise<FanoutServer> {
  const child = await startPinnedChild<BareFanoutReady>({
    name: "bare grpc-js streaming server",
    script: fileURLToPath(new URL("./bare-child.ts", import.meta.url)),
    cpu: options.cpu,
    env: { BENCH_SNAPSHOT_BASE64: options.snapshot, BENCH_CHANGE_BASE64: options.change },
  });
  const address = `127.0.0.1:${child.ready.port}`;
  const client = new Client(address, credentials.createInsecure());
  const raw = (bytes: Buffer) => bytes;
  return {
    child,
    address,
    commit(k) {
      const revision = BigInt(1_000_000 + k);
      return new Promise<bigint>((resolve, reject) =>
        client.makeUnaryRequest(firePath, raw, raw, Buffer.from(String(revision)), new Metadata(), (error: ServiceError | null) =>
          error ? reject(error) : resolve(revision),
        ),
      );
    },
    async stop() {
      client.close();
      await child.stop();
    },
  };
}
