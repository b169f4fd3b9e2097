import { readFileSync } from "node:fs";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** The descriptor set `npm run generate` builds for reflection (no source info); `npm run build` copies it to dist/gen/. */
const descriptorSetUrl = new URL("../../../gen/launchpad.binpb", import.meta.url);

let descriptorSet: Uint8Array | undefined;

/** The encoded FileDescriptorSet of the contracts and every proto they import, read once. */
export function readDescriptorSet(): Uint8Array {
  descriptorSet ??= readFileSync(descriptorSetUrl);
  return descriptorSet;
}

/**
 * The services every Launchpad server answers besides its own, listed by
 * reflection so grpcurl and `buf curl` can call health by name.
 */
export const introspectionServiceNames: readonly string[] = [Health.typeName, ServerReflectionV1.typeName, ServerReflectionV1alpha.typeName];

/** The ErrorInfo reason of a health check naming a service the server does not serve. */
export const unknownServiceReason = "SERVICE_NOT_FOUND";

/** The message of that error; the name is the caller's, so it is quoted and cut short. */
export function unknownServiceMessage(name: string): string {
  return `unknown service ${JSON.stringify(name.slice(0, 200))}`;
}
