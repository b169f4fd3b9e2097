import type { CallContext, ServerMiddleware, ServerMiddlewareCall } from "nice-grpc-common";
import { Status } from "nice-grpc-common";
import { Counter, Histogram, type LabelValues, type Registry } from "prom-client";
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
  // prom-client checks and hashes the labels on every inc; calls are
  // counted in plain numbers per label set, handed over when scraped.
  const tallies: Tally[] = [];
  const collect = () => {
    for (const tally of tallies) {
      if (tally.count === 0) continue;
      tally.counter.inc(tally.labels, tally.count);
      tally.count = 0;
    }
  };
  function tally(counter: Counter, labels: LabelValues<string>): Tally {
    const added = { counter, labels, count: 0 };
    tallies.push(added);
    return added;
  }

  const started = new Counter({
    name: "grpc_server_started_total",
    help: "Total number of RPCs started on the server.",
    labelNames: methodLabels,
    registers,
    collect,
  });
  const handled = new Counter({
    name: "grpc_server_handled_total",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labelNames: [...methodLabels, "grpc_code"],
    registers,
    collect,
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
    collect,
  });
  const sent = new Counter({
    name: "grpc_server_msg_sent_total",
    help: "Total number of gRPC stream messages sent by the server.",
    labelNames: methodLabels,
    registers,
    collect,
  });

  // Label sets are bound once per method (and code), not built on every call.
  const bound = new Map<string, ReturnType<typeof bind>>();
  function bind(labels: ReturnType<typeof labelsOf>) {
    const handledByCode = new Map<Status, Tally>();
    return {
      started: tally(started, labels),
      received: tally(received, labels),
      sent: tally(sent, labels),
      handlingSeconds: handlingSeconds.labels(labels),
      handled(code: Status) {
        let counted = handledByCode.get(code);
        if (!counted) handledByCode.set(code, (counted = tally(handled, { ...labels, grpc_code: goStatusName(code) })));
        return counted;
      },
    };
  }

  return async function* metrics<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    let metric = bound.get(call.method.path);
    if (!metric) bound.set(call.method.path, (metric = bind(labelsOf(call))));
    metric.started.count++;
    const stopTimer = metric.handlingSeconds.startTimer();
    // A stream the client abandons ends in `finally` with no code set.
    let code = Status.CANCELLED;
    try {
      if (!call.requestStream) metric.received.count++;
      if (!call.responseStream) {
        const response = yield* call.next(call.request, context);
        metric.sent.count++;
        code = context.signal.aborted ? Status.CANCELLED : Status.OK;
        return response;
      }
      for await (const response of call.next(call.request, context)) {
        metric.sent.count++;
        yield response;
      }
      code = context.signal.aborted ? Status.CANCELLED : Status.OK;
      return;
    } catch (error) {
      code = statusOf(error);
      throw error;
    } finally {
      stopTimer();
      metric.handled(code).count++;
    }
  };
}

/** Calls counted since the last scrape, for one label set of one counter. */
interface Tally {
  counter: Counter;
  labels: LabelValues<string>;
  count: number;
}

function labelsOf(call: ServerMiddlewareCall<unknown, unknown>) {
  const [, service = "", method = ""] = call.method.path.split("/");
  const type = call.requestStream
    ? call.responseStream ? "bidi_stream" : "client_stream"
    : call.responseStream ? "server_stream" : "unary";
  return { grpc_type: type, grpc_service: service, grpc_method: method };
}
