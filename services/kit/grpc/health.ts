import { isAbortError } from "abort-controller-x";
import type { Server } from "nice-grpc";
import { ServerError, Status } from "nice-grpc-common";
import { HealthDefinition, HealthServiceImpl, type HealthState } from "nice-grpc-server-health";
import { DomainError } from "../errors.js";
import { toServerError } from "../middleware/error-mapping.js";
import { unknownServiceMessage, unknownServiceReason } from "./introspection.js";

/**
 * Serves grpc.health.v1 for "" (the whole server) and for each of
 * `serviceNames` by its full name, as gRPC's health-checking spec and
 * Kubernetes gRPC probes expect: each named service reports the server's own
 * status; any other name is NOT_FOUND with an ErrorInfo reason. Watch
 * streams end with UNAVAILABLE once `stopping` fires, so a client-side health
 * checker holding one open never makes shutdown wait out its whole grace
 * period.
 */
export function addHealth(server: Server<any>, health: HealthState, stopping: AbortSignal, serviceNames: readonly string[]): void {
  followServerStatus(health, serviceNames);
  const implementation = HealthServiceImpl(health);
  server.add(HealthDefinition, {
    async check(request, context) {
      if (health.getStatus(request.service) === "unknown") throw toServerError(new DomainError("not-found", unknownServiceReason, unknownServiceMessage(request.service)));
      return implementation.check(request, context);
    },
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

/** Keeps each named service at the status of "" from now on. */
function followServerStatus(health: HealthState, serviceNames: readonly string[]): void {
  const copy = (status = health.getStatus()) => serviceNames.forEach((name) => health.setStatus(status, name));
  copy();
  health.on("change", ({ service, status }) => service === "" && copy(status));
}
