import { createChannel, createClient, type Channel } from "nice-grpc";
import { HealthCheckResponse_ServingStatus, HealthDefinition } from "nice-grpc-server-health/lib/proto/grpc/health/v1/health.js";

/**
 * Asks each upstream's grpc.health.v1 whether it is SERVING, with a short
 * deadline: what /readyz reports.
 */
export function createReadiness(addresses: Record<string, string>, timeoutMs = 1_000) {
  const clients = Object.entries(addresses).map(([name, address]) => {
    const channel: Channel = createChannel(address);
    return { name, channel, client: createClient(HealthDefinition, channel) };
  });
  return {
    async check(): Promise<Record<string, boolean>> {
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
    },
    close(): void {
      for (const { channel } of clients) channel.close();
    },
  };
}
