import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import type { EdgeRequest } from "../http-server.js";

/** The protocols the edge speaks, as metrics and logs name them. */
export type Protocol = "connect" | "grpc" | "grpc-web" | "rest" | "http";

/** `/pkg.Service/Method`: the path of every Connect, gRPC-Web and gRPC call. */
const rpcPathPattern = /^\/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\/[A-Za-z_]\w*$/;

/** The paths of the fixed endpoints, which name their own route. */
export const endpointRoutes: ReadonlySet<string> = new Set([
  "/healthz",
  "/readyz",
  "/metrics",
  "/.well-known/jwks.json",
  "/openapi.json",
  "/docs",
  "/",
]);

/** Every RPC path the edge serves: the methods of both services. */
export const defaultRpcPaths: ReadonlySet<string> = new Set(
  [UserService, DeploymentService].flatMap((service) => service.methods.map(methodPath)),
);

/** The request's path, without the query string. */
export function pathOf(req: EdgeRequest): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The protocol of a request, from its content type and path: gRPC and
 * gRPC-Web by content type, Connect for any other call of an RPC path (JSON,
 * binary, GET) or a Connect streaming content type, REST under /v1/, plain
 * HTTP for the rest (endpoints, docs, console).
 */
export function protocolOf(req: EdgeRequest, path: string): Protocol {
  const type = req.headers["content-type"] ?? "";
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  if (type.startsWith("application/connect+") || rpcPathPattern.test(path)) return "connect";
  if (path.startsWith("/v1/")) return "rest";
  return "http";
}

/** Whether a Connect request is a stream (its errors travel in an end-stream message). */
export function isConnectStream(req: EdgeRequest): boolean {
  return (req.headers["content-type"] ?? "").startsWith("application/connect+");
}

/** Names a REST request's route template (e.g. "/v1/{name=users/*}"), or undefined when it is no REST route. */
export type RouteOf = (req: EdgeRequest) => string | undefined;

/**
 * The route label of a request, bounded whatever clients send: a served
 * `/pkg.Service/Method`, a fixed endpoint's path (anything under /docs is
 * "/docs", the console's files under /assets are "/assets"), what `routeOf`
 * names, else "other". Ids never become labels.
 */
export function createRouteNamer(rpcPaths: ReadonlySet<string>, routeOf?: RouteOf) {
  return (req: EdgeRequest, path: string): string => {
    if (rpcPaths.has(path) || endpointRoutes.has(path)) return path;
    if (path.startsWith("/docs/")) return "/docs";
    if (path.startsWith("/assets/")) return "/assets";
    return routeOf?.(req) ?? "other";
  };
}
