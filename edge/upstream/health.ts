import { createChannel, createClient, type Channel } from "nice-grpc";
import { HealthCheckResponse_ServingStatus, HealthDefinition } from "nice-grpc-server-health/lib/proto/grpc/health/v1/health.js";

/**
 * Asks each upstream's grpc.health.v1 whether it is SERVING, with a short
 * deadline: what /readyz reports. Checks asked for while one is in flight,
 * or within `reuseMs` of its answer, share it, so a flood of /readyz costs
 * the services one check each at most every `reuseMs`.
 */
export function createReadiness(addresses: Record<string, string>, timeoutMs = 1_000, reuseMs = 1_000) {
  const clients = Object.entries(addresses).map(([name, address]) => {
    const channel: Channel = createChannel(address);
    return { name, channel, client: createClient(HealthDefinition, channel) };
  });
  let shared: Promise<Record<string, boolean>> | undefined;
  let forget: NodeJS.Timeout | undefined;
  return {
    check(): Promise<Record<string, boolean>> {
      shared ??= checkAll().finally(() => {
        forget = setTimeout(() => (shared = undefined), reuseMs).unref();
      });
      return shared;
    },
    close(): void {
      clearTimeout(forget);
      for (const { channel } of clients) channel.close();
    },
  };

  async function checkAll(): Promise<Record<string, boolean>> {
    const results = await Promise.all(
      clients.map(async ({ name, client }) => {
        try {
          const { status } = await client.check({ service: "" }, { signal: AbortSignal.timeout(timeoutMs) });
          return [name, status === HealthCheckResponse_ServingStatus.SERVING] as const;
        } catch {
          return [name, false] as const;
        }
      }),
    );
    return Object.fromEntries(results);
  }
}
