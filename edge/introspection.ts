import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { introspectionServiceNames, readDescriptorSet } from "../services/kit/grpc/introspection.js";
import { createEdgeHealth } from "./introspection/health.js";
import { createReflectionAnswers } from "./introspection/reflection-answers.js";
import { serveReflection } from "./introspection/reflection.js";

/**
 * The most bytes one reflection or health request message may hold: they
 * name a symbol, a file or a service, far below the edge's body limit.
 */
export const reflectionRequestMaxBytes = 64 * 1024;

/**
 * Routes for gRPC tools, served in-process by the edge's own router for
 * every protocol: server reflection (grpc.reflection.v1 and v1alpha) from the
 * descriptor set, listing `serviceNames`, health and reflection, so grpcurl
 * and `buf curl` pointed at the edge list and call every method with no local
 * protos; and grpc.health.v1 for the edge and each of `serviceNames`.
 */
export function introspectionRoutes(serviceNames: readonly string[]): (router: ConnectRouter) => void {
  const answerStream = createReflectionAnswers(readDescriptorSet(), [...serviceNames, ...introspectionServiceNames]);
  const health = createEdgeHealth(serviceNames);
  return (router) => {
    serveReflection(router, answerStream, reflectionRequestMaxBytes);
    router.service(Health, health, { readMaxBytes: reflectionRequestMaxBytes });
  };
}
