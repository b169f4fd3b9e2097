import { readFileSync } from "node:fs";
import type { Server } from "node:net";
import { createContextKey, createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Registry, collectDefaultMetrics } from "prom-client";
import { DeploymentService } from "../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../gen/launchpad/user/v1/user_service_pb.js";
import { createRemoteVerifier } from "../services/kit/auth/remote-verifier.js";
import { methodPath } from "../services/kit/grpc/service-definition.js";
import type { Logger } from "../services/kit/logger.js";
import type { EdgeConfig } from "./config.js";
import { connectHandlerOptions, connectRoutes } from "./connect-routes.js";
import { createConnectUnary } from "./connect-unary.js";
import { createConsoleEndpoints } from "./endpoints/console.js";
import { createDocsEndpoints } from "./endpoints/docs.js";
import { createJwksDocument } from "./endpoints/jwks.js";
import { sendJson, sendText } from "./endpoints/responses.js";
import { createEdgeHttpServer, type EdgeRequest, type EdgeResponse } from "./http-server.js";
import { createGrpcRelay, isGrpcRequest, isGrpcWebBinaryRequest } from "./grpc-proxy.js";
import { createProtections } from "./protections/index.js";
import { pathOf } from "./protections/protocol.js";
import { createRestHandler } from "./rest/handler.js";
import { reflectionPassthroughServices, reflectionRequestMaxBytes, startIntrospection } from "./introspection.js";
import { loadProxySecret } from "../services/kit/proxy-secret.js";
import { createClientVouching } from "./upstream/client-identity.js";
import { createUpstream } from "./upstream/forward.js";
import { createSessionPool } from "./upstream/http2-sessions.js";
import { createReadiness } from "./upstream/health.js";

/** A built, unstarted edge. */
export interface Edge {
  server: Server;
  registry: Registry;
  /** Closes the upstream channels and Redis; call after the server has closed. */
  close(): Promise<void>;
}

const clientAddressKey = createContextKey<string | undefined>(undefined, { description: "client address" });

/**
 * Builds the edge: gRPC relayed frame for frame to the owning service;
 * connect-node serving every method over Connect and gRPC-Web, forwarded over
 * gRPC; reflection and health for gRPC tools; /healthz, /readyz, /metrics,
 * the JWKS, the API docs and the built web console. Nothing listens yet.
 */
export async function buildEdge(config: EdgeConfig, logger: Logger): Promise<Edge> {
  const sessions = createSessionPool();
  const vouchForClient = createClientVouching(loadProxySecret(config));
  const users = createUpstream(config.usersAddress, sessions, vouchForClient);
  const deployments = createUpstream(config.deploymentsAddress, sessions, vouchForClient);
  const services = [UserService, DeploymentService];
  const introspection = await startIntrospection(services.map((s) => s.typeName));
  const introspectionUpstream = createUpstream(introspection.address, sessions, vouchForClient);
  const owners = new Map([
    [`/${UserService.typeName}/`, config.usersAddress],
    [`/${DeploymentService.typeName}/`, config.deploymentsAddress],
  ]);
  const unaryPaths = new Set(services.flatMap((service) => service.methods.filter((m) => m.methodKind === "unary").map(methodPath)));
  const grpcRelay = createGrpcRelay({
    sessions,
    vouchForClient,
    maxBodyBytes: config.maxBodyBytes,
    defaultTimeoutOf: (path) => (unaryPaths.has(path) ? config.requestTimeout : undefined),
    addressOf: (path) =>
      owners.get(path.slice(0, path.lastIndexOf("/") + 1)) ?? (introspection.serves(path) ? introspection.address : undefined),
  });
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
  const notFound = (_req: EdgeRequest, res: EdgeResponse) => sendText(res, 404, "not found\n");
  const reflectionRoutes = reflectionPassthroughServices.map((service) => ({
    service,
    upstream: introspectionUpstream,
    readMaxBytes: reflectionRequestMaxBytes,
  }));
  const connect = connectNodeAdapter({
    ...connectHandlerOptions(config.maxBodyBytes),
    routes: connectRoutes([...routes, ...reflectionRoutes], {
      defaultTimeoutMs: config.requestTimeout,
      clientAddress: (context) => context.values.get(clientAddressKey),
    }),
    contextValues: (req) => createContextValues().set(clientAddressKey, req.socket.remoteAddress),
    fallback: notFound,
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
  const protections = createProtections(config, { registry, logger, verifier });
  const tls = config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined;
  const server = createEdgeHttpServer(protections.wrap((req, res) => {
    if (isGrpcRequest(req)) return grpcRelay.grpc(req, res);
    if (isGrpcWebBinaryRequest(req) && req.method === "POST") return grpcRelay.grpcWeb(req, res);
    const path = pathOf(req);
    const endpoint = req.method === "GET" ? endpoints[path] : undefined;
    if (!endpoint) {
      // Console paths never start with /v1/, /launchpad. or /grpc., so no REST rule or RPC is shadowed.
      const file = req.method === "GET" || req.method === "HEAD" ? consoleFiles.get(path) : undefined;
      if (file) return file(req, res);
      if (connectUnary(req, res) || rest(req, res)) return;
      return connect(req, res);
    }
    endpoint(req, res).catch((error) => {
      logger.error({ err: error, path: req.url }, "endpoint failed");
      if (!res.headersSent) sendJson(res, 503, { status: "unavailable" });
      else res.end();
    });
  }), tls, config);

  return {
    server,
    registry,
    async close() {
      await protections.close();
      verifier.close();
      introspection.close();
      sessions.close();
      readiness.close();
    },
  };
}
