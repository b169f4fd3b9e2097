import { readFileSync } from "node:fs";
import type { Server } from "nice-grpc";
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection";

/** The descriptor set `npm run generate` builds for reflection (no source info). */
const descriptorSetUrl = new URL("../../../gen/launchpad.binpb", import.meta.url);

let descriptorSet: Uint8Array | undefined;

/**
 * Serves grpc.reflection.v1 and, for older clients such as many grpcurl
 * builds, grpc.reflection.v1alpha: the messages are wire-identical, so the
 * same implementation answers both paths.
 */
export function addReflection(server: Server<any>, serviceNames: readonly string[]): void {
  descriptorSet ??= readFileSync(descriptorSetUrl);
  const implementation = ServerReflection(descriptorSet, serviceNames);
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
