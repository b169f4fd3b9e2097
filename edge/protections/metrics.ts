import { Counter, Histogram, type Registry } from "prom-client";
import type { Protocol } from "../routing/classify.js";

/** The protocol label of the metrics and logs: the routing decision's protocol, as operators' dashboards have always named it. */
export const protocolLabel = {
  grpc: "grpc",
  "grpc-web": "grpc-web",
  "grpc-web-text": "grpc-web",
  "connect-unary": "connect",
  "connect-stream": "connect",
  rest: "rest",
  endpoint: "http",
  console: "http",
  unknown: "http",
} as const satisfies Record<Protocol, string>;

/** A protocol label value. */
type ProtocolLabel = (typeof protocolLabel)[Protocol];

/** Methods kept as their own label value; any other becomes "other". */
const knownMethods = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** One answered request, as the metrics label it. */
export interface RequestOutcome {
  route: string;
  method: string;
  /** The HTTP status; 499 when the client went away before the answer was complete. */
  status: number;
  protocol: ProtocolLabel;
  durationSeconds: number;
}

/**
 * `http_requests_total{route,method,status,protocol}` and
 * `http_request_duration_seconds{route,method,protocol}` on `registry`. A
 * stream's duration is its whole life. gRPC calls answer HTTP 200 whatever
 * their grpc-status.
 */
export function createHttpMetrics(registry: Registry) {
  const registers = [registry];
  const requests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests answered by the edge.",
    labelNames: ["route", "method", "status", "protocol"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "Time from a request's arrival until its answer was complete.",
    labelNames: ["route", "method", "protocol"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  // Label sets are bound once per route, protocol, method and status, and found again by
  // nested lookups rather than by a key string built (and hashed) per request.
  type Series = { duration: ReturnType<typeof duration.labels>; requests: Map<number, ReturnType<typeof requests.labels>> };
  const bound = new Map<string, Map<ProtocolLabel, Map<string, Series>>>();
  const seriesOf = (route: string, protocol: ProtocolLabel, method: string): Series => {
    let byProtocol = bound.get(route);
    if (!byProtocol) bound.set(route, (byProtocol = new Map()));
    let byMethod = byProtocol.get(protocol);
    if (!byMethod) byProtocol.set(protocol, (byMethod = new Map()));
    let series = byMethod.get(method);
    if (!series) byMethod.set(method, (series = { duration: duration.labels({ route, method, protocol }), requests: new Map() }));
    return series;
  };
  return {
    record(outcome: RequestOutcome): void {
      const method = knownMethods.has(outcome.method) ? outcome.method : "other";
      const series = seriesOf(outcome.route, outcome.protocol, method);
      let counter = series.requests.get(outcome.status);
      if (!counter) {
        counter = requests.labels({ route: outcome.route, method, status: String(outcome.status), protocol: outcome.protocol });
        series.requests.set(outcome.status, counter);
      }
      counter.inc();
      series.duration.observe(outcome.durationSeconds);
    },
  };
}
