import type { Registry } from "prom-client";
import { closeHttp, listenHttp, type RunningPart } from "./lifecycle.js";
import { createMetricsServer } from "./metrics-server.js";
import type { ServiceServer } from "./server.js";

/** A built, unstarted service: what each service's server.ts returns. */
export interface BuiltService {
  server: ServiceServer;
  registry: Registry;
  /** Stops background work and closes the database, after the server has shut down. */
  close(): Promise<void>;
}

/** A service, listening. */
export interface ServingPart extends RunningPart {
  port: number;
  metricsPort: number;
}

/**
 * Serves a built service: gRPC on host:port, Prometheus on
 * host:metricsPort, reported SERVING once both listen. stop() drains calls
 * within the grace period (long streams end with UNAVAILABLE), closes the
 * metrics server, then the service.
 */
export async function servePart(
  name: string,
  service: BuiltService,
  config: { host: string; port: number; metricsPort: number; shutdownGrace: number },
): Promise<ServingPart> {
  const metrics = createMetricsServer(service.registry);
  const port = await service.server.listen(`${config.host}:${config.port}`);
  const metricsPort = await listenHttp(metrics, config.host, config.metricsPort);
  service.server.health.setStatus("healthy");
  return {
    name,
    port,
    metricsPort,
    async stop() {
      await service.server.shutdown(config.shutdownGrace);
      await closeHttp(metrics);
      await service.close();
    },
  };
}
