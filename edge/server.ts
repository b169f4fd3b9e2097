import { readFileSync } from "node:fs";
import type { Server } from "node:net";
import { Code, ConnectError, createContextKey, createContextValues } from "@connectrpc/connect";
import { Registry, collectDefaultMetrics } from "prom-client";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { DeploymentService } from "../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../gen/launchpad/user/v1/user_service_pb.js";
import { createRemoteVerifier } from "../services/kit/auth/remote-verifier.js";
import type { Logger } from "../services/kit/logger.js";
import type { EdgeConfig } from "./config.js";
import { connectHandlerOptions, connectRoutes } from "./connect-routes.js";
import { createConnectNodeHandler } from "./protocol/connect-node-handler.js";
import { createConnectUnary } from "./protocol/connect-unary.js";
import { createConsoleEndpoints } from "./endpoints/console.js";
import { createDocsEndpoints } from "./endpoints/docs.js";
import { createJwksDocument } from "./endpoints/jwks.js";
import { sendJson, sendText } from "./endpoints/responses.js";
import { createEdgeHttpServer, type EdgeRequest, type EdgeResponse } from "./http-server.js";
import { createGrpcRelay } from "./protocol/grpc-relay.js";
import { createProtections, type RoutedHandler } from "./protections/index.js";
import { Rejection, routeNotFound, unknownMethod } from "./protections/rejections.js";
import { sendError } from "./protocol/send-error.js";
import { createRestHandler } from "./rest/handler.js";
import { createClassifier, type Protocol } from "./routing/classify.js";
import type { RequestIds } from "./routing/request-ids.js";
import { introspectionRoutes } from "./introspection.js";
import { loadProxySecret } from "../services/kit/proxy-secret.js";
import { createClientVouching } from "./upstream/client-identity.js";
import { createUpstream } from "./upstream/forward.js";
import { createSessionPool } from "./upstream/http2-sessions.js";
import { createReadiness } from "./upstream/health.js";

/** A built, unstarted edge. */
export interface Edge {
  server: Server;
  registry: Registry;
  /**
   * Ends the calls connect-node serves (health Watch, Connect streams) with
   * UNAVAILABLE, so open watchers do not hold shutdown; call as shutdown begins.
   */
  shutdown(): void;
  /** Closes the upstream channels and Redis; call after the server has closed. */
  close(): Promise<void>;
}

/** The request behind a call connect-node serves: the client's address and the request's ids. */
const edgeCallKey = createContextKey<{ clientAddress: string | undefined; ids: RequestIds } | undefined>(undefined, { description: "edge call" });

/**
 * Builds the edge. Each request is routed once (routing/classify.ts), which
 * also settles its request id and trace context (routing/request-ids.ts),
 * passes the protections' chain (protections/index.ts), and reaches the
 * handler of its protocol: gRPC and gRPC-Web (binary and text) relayed frame
 * for frame to the owning service; Connect unary calls on the fast path
 * (connect-unary.ts), Connect streams and the rest on connect-node,
 * forwarded over gRPC; REST transcoded (rest/); reflection and health
 * answered in-process; /healthz, /readyz, /metrics, the JWKS, the API docs
 * and the built web console. Every body is held to the limit while it
 * arrives by the one body reader (protocol/request-body.ts), connect-node's
 * included. Every error is written by protocol/send-error.ts.
 * Nothing listens yet.
 */
export async function buildEdge(config: EdgeConfig, logger: Logger): Promise<Edge> {
  const sessions = createSessionPool({ keepaliveIntervalMs: config.upstreamKeepalive, keepaliveTimeoutMs: config.upstreamKeepaliveTimeout });
  const vouchForClient = createClientVouching(loadProxySecret(config));
  const users = createUpstream(config.usersAddress, sessions, vouchForClient);
  const deployments = createUpstream(config.deploymentsAddress, sessions, vouchForClient);
  const services = [UserService, DeploymentService];
  const grpcRelay = createGrpcRelay({ sessions, vouchForClient, maxBodyBytes: config.maxBodyBytes, defaultTimeoutMs: config.requestTimeout });
  const readiness = createReadiness({ users: config.usersAddress, deployments: config.deploymentsAddress });
  const jwks = createJwksDocument(users);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const routes = [
    { service: UserService, upstream: users },
    { service: DeploymentService, upstream: deployments },
  ];
  const rest = createRestHandler({
    routes,
    defaultTimeoutMs: config.requestTimeout,
    maxBodyBytes: config.maxBodyBytes,
    clientAddress: (req) => req.socket.remoteAddress,
    logger,
  });
  const connectUnary = createConnectUnary(routes, { defaultTimeoutMs: config.requestTimeout, maxBodyBytes: config.maxBodyBytes });
  const shuttingDown = new AbortController();
  const introspection = introspectionRoutes(services.map((service) => service.typeName));
  const connect = createConnectNodeHandler({
    ...connectHandlerOptions(config.maxBodyBytes),
    maxBodyBytes: config.maxBodyBytes,
    shutdownSignal: shuttingDown.signal,
    routes(router) {
      connectRoutes(routes, { defaultTimeoutMs: config.requestTimeout, callOf: (context) => context.values.get(edgeCallKey)! })(router);
      introspection(router);
    },
    contextValues: (req, route) => createContextValues().set(edgeCallKey, { clientAddress: req.socket.remoteAddress, ids: route.ids }),
  });

  const endpoints: Record<string, (req: EdgeRequest, res: EdgeResponse) => Promise<void>> = {
    "/healthz": async (_req, res) => sendJson(res, 200, { status: "ok" }),
    "/readyz": async (_req, res) => {
      const upstreams = await readiness.check();
      const ready = Object.values(upstreams).every(Boolean);
      sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not ready", upstreams });
    },
    "/metrics": async (_req, res) => sendText(res, 200, await registry.metrics(), registry.contentType),
    "/.well-known/jwks.json": async (_req, res) => sendJson(res, 200, await jwks(), { "cache-control": "public, max-age=60" }),
    ...createDocsEndpoints(),
  };
  const consoleFiles = await createConsoleEndpoints(config.consoleDir, logger);

  // Verifies credentials for rate-limit budgets only; the services still authorize every call.
  const verifier = createRemoteVerifier({
    users: config.usersAddress,
    rules: { issuer: config.issuer, audience: config.audience },
    identityStaleAfterMs: config.identityStaleAfter,
    logger,
  });
  const tls = config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined;
  const classify = createClassifier({
    services: [...routes, ...[Health, ServerReflectionV1, ServerReflectionV1alpha].map((service) => ({ service, upstream: undefined }))],
    bindings: rest.bindings,
    endpoints: new Set(Object.keys(endpoints)),
    isConsoleFile: (path) => consoleFiles.has(path),
  });
  const protections = createProtections(config, { registry, logger, verifier, classify });
  /** An RPC handler, for served methods only: any other is UNIMPLEMENTED (UNKNOWN_METHOD) in the caller's protocol. */
  const served =
    (handler: RoutedHandler): RoutedHandler =>
    (req, res, route) =>
      route.rpc ? handler(req, res, route) : sendError(req, res, route.protocol, unknownMethod(route.path));
  /** Relayed when a service owns the method; introspection, and gRPC over HTTP/1.1, go to connect-node. */
  const relayOrConnect = served((req, res, route) =>
    route.rpc!.upstream && (route.protocol !== "grpc" || "stream" in req) ? grpcRelay(req, res, route) : connect(req, res, route),
  );
  const handlers: Record<Protocol, RoutedHandler> = {
    grpc: relayOrConnect,
    "grpc-web": relayOrConnect,
    // connect-node does not speak text mode: only the relay does.
    "grpc-web-text": served(grpcRelay),
    "connect-unary": served((req, res, route) => connectUnary(req, res, route) || connect(req, res, route)),
    "connect-stream": served(connect),
    rest: (req, res, route) => {
      if (route.rest && rest(req, res, route)) return;
      // OPTIONS of a REST path is CORS's to answer; without CORS it is no route either.
      sendError(req, res, route.protocol, routeNotFound(route.path));
    },
    endpoint: (req, res, route) => {
      const endpoint = req.method === "GET" ? endpoints[route.path] : undefined;
      if (!endpoint) return sendError(req, res, route.protocol, routeNotFound(route.path));
      endpoint(req, res).catch((error) => {
        logger.error({ err: error, path: route.path }, "endpoint failed");
        sendError(req, res, "endpoint", new Rejection({ code: Code.Unavailable, reason: "ENDPOINT_UNAVAILABLE", message: "the endpoint is unavailable" }));
      });
    },
    console: (req, res, route) => consoleFiles.get(route.path)!(req, res),
    unknown: (req, res, route) => sendError(req, res, route.protocol, routeNotFound(route.path)),
  };
  const server = createEdgeHttpServer(
    protections.wrap((req, res, route) => handlers[route.protocol](req, res, route)),
    tls,
    config,
  );

  return {
    server,
    registry,
    shutdown: () => shuttingDown.abort(new ConnectError("the edge is shutting down", Code.Unavailable)),
    async close() {
      await protections.close();
      verifier.close();
      sessions.close();
      readiness.close();
    },
  };
}
