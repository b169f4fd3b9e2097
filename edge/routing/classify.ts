import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import type { EdgeRequest } from "../http-server.js";
import { findBinding, type BindingMatch, type RestBinding } from "../rest/bindings.js";
import type { Upstream } from "../upstream/forward.js";
import { requestIdsOf, type RequestIds } from "./request-ids.js";

/** What a request speaks, decided once from its content type, method and path. */
export type Protocol =
  | "grpc"
  | "grpc-web"
  | "grpc-web-text"
  | "connect-unary"
  | "connect-stream"
  | "rest"
  | "endpoint"
  | "console"
  | "unknown";

/** How an RPC's messages are encoded. */
export type Codec = "proto" | "json";

/** A served RPC: its descriptor, its path, and the upstream that owns it (none when the edge answers it itself). */
export interface RpcTarget {
  method: DescMethod;
  path: string;
  upstream: Upstream | undefined;
}

/** Everything the edge decides about a request before anything answers it. */
export interface Route {
  protocol: Protocol;
  codec: Codec | undefined;
  /** The path without its query. */
  path: string;
  /** The RPC called, for gRPC, gRPC-Web and Connect requests to a served method. */
  rpc: RpcTarget | undefined;
  /** What the REST bindings found, for REST requests. */
  rest: BindingMatch | undefined;
  /** The metrics and log label: the served RPC's path (REST calls too), an endpoint's path, or "other" (never an id). */
  label: string;
  /** The request id and trace context, logged, echoed and passed upstream. */
  ids: RequestIds;
}

/** What the classifier knows: the services and their upstreams, the REST bindings, the fixed endpoints and console files. */
export interface ClassifierOptions {
  services: readonly { service: DescService; upstream: Upstream | undefined }[];
  bindings: readonly RestBinding[];
  /** Paths of the fixed endpoints (GET), each its own label. */
  endpoints: ReadonlySet<string>;
  /** Whether a GET path is one of the console's files. */
  isConsoleFile(path: string): boolean;
}

/** A Connect unary body's content type: application/proto or application/json. */
const connectUnaryType = /^application\/(proto|json)(?:;\s*charset=utf-?8)?$/i;
/** Any gRPC family content type; group 1 is the variant, group 2 the codec suffix. */
const grpcType = /^application\/grpc(-web-text|-web)?(?:\+(proto|json))?(?:;|$)/i;
const connectStreamType = /^application\/connect\+(proto|json)(?:;|$)/i;
/** `/pkg.Service/Method`: the path of every RPC, served or not. */
const rpcPathPattern = /^\/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\/[A-Za-z_]\w*$/;

/** The request's path, without the query string. */
export function pathOf(req: EdgeRequest): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Builds the edge's one routing decision. gRPC, gRPC-Web (binary and text)
 * and Connect streams are known by content type; a Connect unary call by a
 * served RPC path (POST of application/proto or json, or GET); REST by the
 * compiled google.api.http bindings, or any path under /v1/; then the fixed
 * endpoints and the console's files; anything else is unknown.
 */
export function createClassifier(options: ClassifierOptions): (req: EdgeRequest) => Route {
  const rpcs = new Map<string, RpcTarget>();
  for (const { service, upstream } of options.services) {
    for (const method of service.methods) rpcs.set(methodPath(method), { method, path: methodPath(method), upstream });
  }

  return (req) => {
    const path = pathOf(req);
    const type = req.headers["content-type"] ?? "";
    const rpc = rpcs.get(path);
    const ids = requestIdsOf(req);
    const rpcRoute = (protocol: Protocol, codec: Codec | undefined): Route => ({ protocol, codec, path, rpc, rest: undefined, label: rpc ? path : "other", ids });

    const grpc = grpcType.exec(type);
    if (grpc) {
      const variant = grpc[1]?.toLowerCase();
      const protocol = variant === "-web-text" ? "grpc-web-text" : variant === "-web" ? "grpc-web" : "grpc";
      return rpcRoute(protocol, (grpc[2]?.toLowerCase() as Codec | undefined) ?? "proto");
    }
    const stream = connectStreamType.exec(type);
    if (stream) return rpcRoute("connect-stream", stream[1]!.toLowerCase() as Codec);
    if (rpc || rpcPathPattern.test(path)) {
      // A GET names its codec in the query; a POST of another content type has none (connect-node answers 415).
      const get = req.method === "GET" ? (/[?&]encoding=json(&|$)/.test(req.url ?? "") ? "json" : "proto") : undefined;
      return rpcRoute("connect-unary", (connectUnaryType.exec(type)?.[1]?.toLowerCase() as Codec | undefined) ?? get);
    }

    const httpMethod = (req.method ?? "GET").toUpperCase();
    const rest = httpMethod === "OPTIONS" ? undefined : findBinding(options.bindings, httpMethod, path);
    // Counted under its method, as the same call is over every other protocol.
    if (rest && rest.kind === "found") return { protocol: "rest", codec: "json", path, rpc: undefined, rest, label: rest.binding.path, ids };
    if (rest && (rest.kind === "method-not-allowed" || path.startsWith("/v1/"))) {
      return { protocol: "rest", codec: "json", path, rpc: undefined, rest, label: "other", ids };
    }

    const other = (protocol: Protocol, label: string): Route => ({ protocol, codec: undefined, path, rpc: undefined, rest: undefined, label, ids });
    if (options.endpoints.has(path)) return other("endpoint", path);
    if (path.startsWith("/docs/")) return other("endpoint", "/docs");
    if ((httpMethod === "GET" || httpMethod === "HEAD") && options.isConsoleFile(path)) {
      return other("console", path.startsWith("/assets/") ? "/assets" : path === "/" ? "/" : "other");
    }
    return other(path.startsWith("/v1/") ? "rest" : "unknown", "other");
  };
}
