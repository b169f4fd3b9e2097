import { createServer } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import { addReflection } from "../services/kit/grpc/reflection.js";

/**
 * gRPC server reflection (v1 and v1alpha) over every service the edge
 * serves, and grpc.health.v1 for the edge itself, on a loopback port the
 * gRPC fast path relays to: grpcurl and `buf curl` pointed at the edge
 * list and call every method with no local protos.
 */
export async function startIntrospection(serviceNames: readonly string[]) {
  const server = createServer();
  const health = HealthState();
  health.setStatus("healthy");
  server.add(HealthDefinition, HealthServiceImpl(health));
  addReflection(server, serviceNames);
  const port = await server.listen("127.0.0.1:0");
  return {
    address: `127.0.0.1:${port}`,
    /** Paths it answers. */
    serves: (path: string) => path.startsWith("/grpc.reflection.") || path.startsWith("/grpc.health.v1."),
    close: () => server.forceShutdown(),
  };
}
