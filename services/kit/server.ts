import type { DescService } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createServer, type ServiceImplementation } from "nice-grpc";
import { HealthState } from "nice-grpc-server-health";
import type { Registry } from "prom-client";
import { assertEveryMethodHasPolicy } from "./auth/access-policy.js";
import type { AuthContext, CredentialVerifier } from "./auth/principal.js";
import { addHealth } from "./grpc/health.js";
import { addReflection } from "./grpc/reflection.js";
import { indexMethods, toNiceService, type NiceServiceDefinition } from "./grpc/service-definition.js";
import type { Logger } from "./logger.js";
import { authenticationCheck } from "./middleware/authentication.js";
import { authorizationCheck } from "./middleware/authorization.js";
import { checksMiddleware } from "./middleware/call-checks.js";
import { createErrorMappingMiddleware } from "./middleware/error-mapping.js";
import { createMetricsMiddleware } from "./middleware/metrics.js";
import { createRequestContextMiddleware, type RequestContextExt } from "./middleware/request-context.js";
import { validationCheck, type RequestRule } from "./middleware/validation.js";

/** What every Launchpad handler finds in its call context. */
export type HandlerContext = RequestContextExt & AuthContext;

/** The handlers of a protobuf-es service (`Handlers<typeof UserService>`), fully typed. */
export type Handlers<T> = T extends GenService<infer S> ? ServiceImplementation<NiceServiceDefinition<S>, HandlerContext> : never;

/** What a service server is built from. */
export interface ServiceServerOptions {
  logger: Logger;
  registry: Registry;
  verifier: CredentialVerifier;
  /** Every service this server will serve; each method must declare an access policy. */
  services: readonly DescService[];
  /** Per-method request rules beyond field_behavior, by gRPC path. */
  rules?: Readonly<Record<string, RequestRule<any>>>;
  /** The largest request accepted; larger ones get RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
}

/** A gRPC server with the Launchpad middleware chain, health and reflection. */
export interface ServiceServer {
  /** Serves a protobuf-es service behind the full middleware chain. */
  add<S extends GenServiceMethods>(service: GenService<S>, handlers: Handlers<GenService<S>>): void;
  /** Starts listening on "host:port"; returns the bound port. */
  listen(address: string): Promise<number>;
  /** Health of the server, answered by grpc.health.v1. */
  health: HealthState;
  /** Aborted when shutdown begins: long streams end with UNAVAILABLE. */
  stopping: AbortSignal;
  /** Stops accepting calls, lets in-flight ones finish within graceMs, then cancels the rest. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Builds an unstarted gRPC server. The middleware chain, outermost first:
 * metrics → request context and logging → error mapping → authentication →
 * authorization → validation → handler. Health and reflection get only the
 * first three: they are public by nature.
 */
export function createServiceServer(options: ServiceServerOptions): ServiceServer {
  const methods = indexMethods(options.services);
  assertEveryMethodHasPolicy(methods.values());

  const server = createServer({
    "grpc.max_receive_message_length": options.maxMessageBytes ?? 4 * 1024 * 1024,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  })
    .use(createMetricsMiddleware(options.registry))
    .use(createRequestContextMiddleware(options.logger))
    .use(createErrorMappingMiddleware());

  const health = HealthState();
  const stopping = new AbortController();
  addHealth(server, health, stopping.signal, options.services.map((s) => s.typeName));
  addReflection(server, options.services.map((s) => s.typeName));

  // The last three steps only look at a call before it starts: one middleware runs them in order.
  const withChain = server.with(
    checksMiddleware(
      authenticationCheck(methods, options.verifier),
      authorizationCheck(methods),
      validationCheck(methods, options.rules ?? {}),
    ),
  );

  return {
    add(service, handlers) {
      withChain.add(toNiceService(service), handlers as never);
    },
    listen: (address) => server.listen(address),
    health,
    stopping: stopping.signal,
    async shutdown(graceMs) {
      health.setStatus("unhealthy");
      stopping.abort();
      const timer = setTimeout(() => server.forceShutdown(), graceMs);
      try {
        await server.shutdown();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
