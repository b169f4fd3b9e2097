import type { Logger } from "../../services/kit/logger.js";
import type { EdgeRequest, EdgeResponse } from "../http-server.js";
import type { Route } from "../routing/classify.js";
import { protocolLabel, type createHttpMetrics } from "./metrics.js";
import type { Middleware } from "./middleware.js";

/** Paths logged at debug level: probes and scrapes would drown the log. */
const quietPaths: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);

/**
 * When the exchange is over (answered, or abandoned by the client: status
 * 499), records its metrics and writes one JSON log line: method, route,
 * status, protocol, duration, client address, request id and trace id.
 * Never the query string, headers or body. 5xx lines are warnings.
 */
export function observeExchange(
  req: EdgeRequest,
  res: EdgeResponse,
  route: Route,
  /** The TCP peer, as connected (read at arrival: an HTTP/2 request loses its socket when its stream closes). */
  clientAddress: string,
  metrics: ReturnType<typeof createHttpMetrics>,
  logger: Logger,
): void {
  const started = process.hrtime.bigint();
  // "close" comes once per response; `on` spares the wrapper `once` builds.
  res.on("close", () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = res.writableFinished ? res.statusCode : 499;
    const method = req.method ?? "";
    const protocol = protocolLabel[route.protocol];
    metrics.record({ route: route.label, method, status, protocol, durationSeconds: seconds });
    const line = { requestId: route.ids.requestId, traceId: route.ids.traceId, method, route: route.label, status, protocol, durationMs: Math.round(seconds * 1e6) / 1e3, clientAddress };
    if (status >= 500) logger.warn(line, "request");
    else if (quietPaths.has(route.path)) logger.debug(line, "request");
    else logger.info(line, "request");
  });
}

/**
 * The chain's first step: the request id echoed in the response, then on
 * completion one log line and the metrics, whoever answered (so 403, 413
 * and 429 count too).
 */
export function observing(metrics: ReturnType<typeof createHttpMetrics>, logger: Logger): Middleware {
  return (next) => (req, res, route) => {
    res.setHeader("x-request-id", route.ids.requestId);
    observeExchange(req, res, route, req.socket?.remoteAddress ?? "unknown", metrics, logger);
    next(req, res, route);
  };
}
