import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";
import { Status } from "nice-grpc-common";
import { Counter, Histogram, type Registry } from "prom-client";
import { statusOf } from "../grpc/call-status.js";
import { goStatusName } from "../grpc/status-names.js";

const methodLabels = ["grpc_type", "grpc_service", "grpc_method"] as const;

/**
 * Counts and times every call with go-grpc-prometheus's metric names and
 * labels (grpc_code spelled as grpc-go spells it), so dashboards made for Go
 * services work unchanged.
 */
export function createMetricsMiddleware(registry: Registry): ServerMiddleware {
  const registers = [registry];
  const started = new Counter({
    name: "grpc_server_started_total",
    help: "Total number of RPCs started on the server.",
    labelNames: methodLabels,
    registers,
  });
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: [...methodLabels, "grpc_code"],
    registers,
  });
  const handlingSeconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
    labelNames: methodLabels,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const received = new Counter({
    name: "grpc_server_msg_received_total",
    help: "Total number of RPC stream messages received on the server.",
    labelNames: methodLabels,
    registers,
  });
  const sent = new Counter({
    name: "grpc_server_msg_sent_total",
    help: "Total number of gRPC stream messages sent by the server.",
    labelNames: methodLabels,
    registers,
  });

  // Label sets are bound once per method (and code), not hashed on every call.
  const bound = new Map<string, ReturnType<typeof bind>>();
  function bind(labels: ReturnType<typeof labelsOf>) {
    const handledByCode = new Map<Status, Counter.Internal>();
    return {
      started: started.labels(labels),
      received: received.labels(labels),
      sent: sent.labels(labels),
      handlingSeconds: handlingSeconds.labels(labels),
      handled(code: Status) {
        let counter = handledByCode.get(code);
        if (!counter) handledByCode.set(code, (counter = handled.labels({ ...labels, grpc_code: goStatusName(code) })));
        return counter;
      },
    };
  }

  return async function* metrics<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    let metric = bound.get(call.method.path);
    if (!metric) bound.set(call.method.path, (metric = bind(labelsOf(call))));
    metric.started.inc();
    const stopTimer = metric.handlingSeconds.startTimer();
    // A stream the client abandons ends in `finally` with no code set.
    let code = Status.CANCELLED;
    try {
      if (!call.requestStream) metric.received.inc();
      if (!call.responseStream) {
        const response = yield* call.next(call.request, context);
        metric.sent.inc();
        code = context.signal.aborted ? Status.CANCELLED : Status.OK;
        return response;
      }
      for await (const response of call.next(call.request, context)) {
        metric.sent.inc();
        yield response;
      }
      code = context.signal.aborted ? Status.CANCELLED : Status.OK;
      return;
    } catch (error) {
      code = statusOf(error);
      throw error;
    } finally {
      stopTimer();
      metric.handled(code).inc();
    }
  };
}

function labelsOf(call: ServerMiddlewareCall<unknown, unknown>) {
  const [, service = "", method = ""] = call.method.path.split("/");
  const type = call.requestStream
    ? call.responseStream ? "bidi_stream" : "client_stream"
    : call.responseStream ? "server_stream" : "unary";
  return { grpc_type: type, grpc_service: service, grpc_method: method };
}
