import type { EdgeHandler, EdgeRequest, EdgeResponse } from "../http-server.js";
import type { Route } from "../routing/classify.js";

/** A handler behind the routing decision: it is handed the request's Route. */
export type RoutedHandler = (req: EdgeRequest, res: EdgeResponse, route: Route) => void;

/** One step of the edge's HTTP chain: given the rest of the chain, a handler that may answer itself or pass the request on. */
export type Middleware = (next: RoutedHandler) => RoutedHandler;

/**
 * Puts `chain` in front of `handler`, the first middleware outermost (the
 * interceptor order of connect-es), and routes each request once, before
 * the first of them runs.
 */
export function compose(chain: readonly Middleware[], handler: RoutedHandler, classify: (req: EdgeRequest) => Route): EdgeHandler {
  const routed = chain.reduceRight((next, middleware) => middleware(next), handler);
  return (req, res) => routed(req, res, classify(req));
}
