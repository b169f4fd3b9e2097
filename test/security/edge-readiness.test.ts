import { createServer, type Server } from "nice-grpc";
import { HealthDefinition } from "nice-grpc-server-health";
import { HealthCheckResponse_ServingStatus } from "nice-grpc-server-health/lib/proto/grpc/health/v1/health.js";
import { afterEach, describe, expect, it } from "vitest";
import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { capturedLogger } from "../support/captured-logger.js";

// /readyz made two upstream health checks per call, uncached: 1,000 in
// flight made every answer 503. Concurrent and recent calls now share one
// check.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A grpc.health.v1 server that answers SERVING and counts the checks it is asked. */
async function startCountingHealth(): Promise<{ address: string; checks: () => number }> {
  let checks = 0;
  const server: Server = createServer();
  server.add(HealthDefinition, {
    async check() {
      checks++;
      return { status: HealthCheckResponse_ServingStatus.SERVING };
    },
    async *watch() {
      yield { status: HealthCheckResponse_ServingStatus.SERVING };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  cleanups.push(() => server.shutdown());
  return { address: `127.0.0.1:${port}`, checks: () => checks };
}

async function startEdgeBefore(address: string): Promise<RunningEdge> {
  const config = loadEdgeConfig({
    env: {
      LAUNCHPAD_EDGE_PORT: "0",
      LAUNCHPAD_USERS_ADDRESS: address,
      LAUNCHPAD_DEPLOYMENTS_ADDRESS: address,
      LAUNCHPAD_SHUTDOWN_GRACE: "1s",
      // The burst opens a connection per request; this is about /readyz, not the per-address cap.
      LAUNCHPAD_EDGE_MAX_CONNECTIONS_PER_ADDRESS: "0",
    },
    argv: [],
  });
  const edge = await startEdge(config, capturedLogger("edge").logger);
  cleanups.push(() => edge.stop());
  return edge;
}

describe("/readyz shares its upstream checks", () => {
  it("500 concurrent /readyz all answer 200 while the services are up, for a handful of health checks", async () => {
    const health = await startCountingHealth();
    const edge = await startEdgeBefore(health.address);

    const answers = await Promise.all(
      Array.from({ length: 500 }, () => fetch(`http://127.0.0.1:${edge.port}/readyz`, { signal: AbortSignal.timeout(10_000) })),
    );

    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 200));
    expect(await answers[0]!.json()).toEqual({ status: "ready", upstreams: { users: true, deployments: true } });
    // Two upstreams, one check each per second at most; the burst takes a few seconds at worst.
    expect(health.checks()).toBeGreaterThanOrEqual(2);
    expect(health.checks()).toBeLessThanOrEqual(20);
  });
});
