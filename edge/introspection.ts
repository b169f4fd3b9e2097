import { create, createFileRegistry, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, file_google_protobuf_empty } from "@bufbuild/protobuf/wkt";
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

/**
 * The most bytes one reflection request message may hold: they name a
 * symbol or a file, far below the edge's body limit.
 */
export const reflectionRequestMaxBytes = 64 * 1024;

/**
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
