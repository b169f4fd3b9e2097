import type { Server } from "nice-grpc";
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection";
import { introspectionServiceNames, readDescriptorSet } from "./introspection.js";

/**
 * Serves grpc.reflection.v1 and, for older clients such as many grpcurl
 * builds, grpc.reflection.v1alpha: the messages are wire-identical, so the
 * same implementation answers both paths. It lists `serviceNames` with
 * health and reflection, so grpcurl and `buf curl` can call health by name.
 */
export function addReflection(server: Server<any>, serviceNames: readonly string[]): void {
  const implementation = ServerReflection(readDescriptorSet(), [...serviceNames, ...introspectionServiceNames]);
  server.add(ServerReflectionService, implementation);
  server.add(v1alpha(), implementation);
}

function v1alpha(): typeof ServerReflectionService {
  const method = ServerReflectionService.serverReflectionInfo;
  return {
    serverReflectionInfo: {
      ...method,
      path: method.path.replace("grpc.reflection.v1.", "grpc.reflection.v1alpha.") as typeof method.path,
    },
  };
}
