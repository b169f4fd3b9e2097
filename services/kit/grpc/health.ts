import { isAbortError } from "abort-controller-x";
import type { Server } from "nice-grpc";
import { ServerError, Status } from "nice-grpc-common";
import { HealthDefinition, HealthServiceImpl, type HealthState } from "nice-grpc-server-health";

/**
 * Serves grpc.health.v1. Watch streams end with UNAVAILABLE once `stopping`
 * fires, so a client-side health checker holding one open never makes
 * shutdown wait out its whole grace period.
 */
export function addHealth(server: Server<any>, health: HealthState, stopping: AbortSignal): void {
  const implementation = HealthServiceImpl(health);
  server.add(HealthDefinition, {
    check: implementation.check,
    async *watch(request, context) {
      try {
        yield* implementation.watch(request, { ...context, signal: AbortSignal.any([context.signal, stopping]) });
      } catch (error) {
        if (stopping.aborted && isAbortError(error)) throw new ServerError(Status.UNAVAILABLE, "the server is shutting down");
        throw error;
      }
    },
  });
}
