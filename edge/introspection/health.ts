import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { once } from "node:events";
import { HealthCheckResponse_ServingStatus as ServingStatus, type Health } from "../../gen/grpc/health/v1/health_pb.js";
import { unknownServiceMessage, unknownServiceReason } from "../../services/kit/grpc/introspection.js";
import { Rejection } from "../protections/rejections.js";

/**
 * grpc.health.v1 for the edge itself: "" (the whole edge) and each service it
 * serves answer SERVING while the edge runs, as gRPC's health-checking spec
 * and Kubernetes gRPC probes expect; any other name is NOT_FOUND to Check and
 * SERVICE_UNKNOWN to Watch. Watch streams end when the router's
 * `shutdownSignal` fires.
 */
export function createEdgeHealth(serviceNames: readonly string[]): ServiceImpl<typeof Health> {
  const known = new Set(["", ...serviceNames]);
  return {
    check({ service }) {
      if (!known.has(service)) throw unknownService(service);
      return { status: ServingStatus.SERVING };
    },
    list() {
      return { statuses: Object.fromEntries([...known].map((name) => [name, { status: ServingStatus.SERVING }])) };
    },
    async *watch({ service }, context) {
      yield { status: known.has(service) ? ServingStatus.SERVING : ServingStatus.SERVICE_UNKNOWN };
      // The edge's status never changes while it runs: hold the stream until the caller leaves or
      // the server's shutdownSignal fires, whose reason (UNAVAILABLE, say) ends the stream.
      if (!context.signal.aborted) await once(context.signal, "abort");
      context.signal.throwIfAborted();
    },
  };
}

function unknownService(name: string): ConnectError {
  return new Rejection({ code: Code.NotFound, reason: unknownServiceReason, message: unknownServiceMessage(name) });
}
