import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, file_google_protobuf_empty } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { createServer } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { introspectionServiceNames, readDescriptorSet } from "../services/kit/grpc/introspection.js";
import { addReflection } from "../services/kit/grpc/reflection.js";
import { createEdgeHealth } from "./introspection/health.js";
import { createReflectionAnswers } from "./introspection/reflection-answers.js";
import { serveReflection } from "./introspection/reflection.js";

/**
 * Routes for gRPC tools, served in-process by the edge's own router for
 * every protocol: server reflection (grpc.reflection.v1 and v1alpha) from the
 * descriptor set, listing `serviceNames`, health and reflection, so grpcurl
 * and `buf curl` pointed at the edge list and call every method with no local
 * protos; and grpc.health.v1 for the edge and each of `serviceNames`.
 */
export function introspectionRoutes(serviceNames: readonly string[]): (router: ConnectRouter) => void {
  const answer = createReflectionAnswers(readDescriptorSet(), [...serviceNames, ...introspectionServiceNames]);
  const health = createEdgeHealth(serviceNames);
  return (router) => {
    serveReflection(router, answer, reflectionRequestMaxBytes);
    router.service(Health, health, { readMaxBytes: reflectionRequestMaxBytes });
  };
}

/**
 * @deprecated The loopback relay that `introspectionRoutes` replaces; it goes
 * once edge/server.ts mounts those routes.
 *
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

/**
 * The most bytes one reflection or health request message may hold: they
 * name a symbol, a file or a service, far below the edge's body limit.
 */
export const reflectionRequestMaxBytes = 64 * 1024;

/**
 * @deprecated Goes with `startIntrospection`.
 *
 * grpc.reflection v1 and v1alpha as connect-node can route them, so that
 * Connect and gRPC-Web clients (buf curl's default protocol reflects over
 * Connect) reach the reflection server too. Their messages are declared
 * empty: the edge never reads them, and protobuf-es carries every field
 * through as unknown fields, byte for byte (binary codecs only — reflection
 * clients speak binary).
 */
export const reflectionPassthroughServices: readonly DescService[] = ["grpc.reflection.v1", "grpc.reflection.v1alpha"].map((pkg) => {
  const file = create(FileDescriptorProtoSchema, {
    name: `${pkg.replaceAll(".", "/")}/reflection_passthrough.proto`,
    package: pkg,
    dependency: ["google/protobuf/empty.proto"],
    syntax: "proto3",
    service: [
      {
        name: "ServerReflection",
        method: [
          {
            name: "ServerReflectionInfo",
            inputType: ".google.protobuf.Empty",
            outputType: ".google.protobuf.Empty",
            clientStreaming: true,
            serverStreaming: true,
          },
        ],
      },
    ],
  });
  const registry = createFileRegistry(file, (name) => (name === "google/protobuf/empty.proto" ? file_google_protobuf_empty : undefined));
  return registry.getService(`${pkg}.ServerReflection`)!;
});
