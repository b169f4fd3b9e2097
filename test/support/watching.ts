import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { isAbortError } from "abort-controller-x";
import type { Status } from "nice-grpc";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { DeploymentEvent } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import {
  WatchDeploymentsRequestSchema,
  WatchDeploymentsResponseSchema,
  type DeploymentChange,
  type WatchDeploymentsResponse,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { failureOf, type CallFailure } from "./grpc-errors.js";

/** What both watch methods send: a kind and the revision seen up to. */
export interface WatchMessage {
  kind: { case: "snapshot" | "change" | "heartbeat" | undefined; value?: unknown };
  revision: bigint;
}

/** How a recorded watch ended. */
export type WatchEnd = { how: "failed"; failure: CallFailure } | { how: "aborted" } | { how: "completed" };

/** A watch stream read in the background into `messages`. */
export interface WatchRecording<M extends WatchMessage> {
  /** Every message received so far, in order. */
  readonly messages: M[];
  /** Settles (never rejects) when the stream ends. */
  readonly ended: Promise<WatchEnd>;
  /**
   * Resolves once `predicate(messages)` holds. Rejects if the stream ends
   * first, or after `timeoutMs`, which only guards against hangs.
   */
  until(predicate: (messages: readonly M[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Cancels the call from the client side. */
  abort(): void;
}

/**
 * Opens a watch with `open(signal)` and reads it in the background, so a
 * test can make changes and then wait for them to arrive.
 *
 *     const watch = recordWatch((signal) => client.watchDeployments({}, { ...auth, signal }));
 *     await watch.until((m) => changesOf(m).length >= 3, "three changes");
 */
export function recordWatch<M extends WatchMessage>(open: (signal: AbortSignal) => AsyncIterable<M>): WatchRecording<M> {
  const controller = new AbortController();
  const messages: M[] = [];
  const waiters = new Set<() => void>();
  let finished: WatchEnd | undefined;

  const consume = async () => {
    for await (const message of open(controller.signal)) {
      messages.push(message);
      for (const check of [...waiters]) check();
    }
  };
  const ended: Promise<WatchEnd> = consume().then(
    (): WatchEnd => ({ how: "completed" }),
    async (error: unknown): Promise<WatchEnd> => {
      if (isAbortError(error)) return { how: "aborted" };
      return { how: "failed", failure: await failureOf(Promise.reject(error)) };
    },
  );
  void ended.then((end) => {
    finished = end;
    for (const check of [...waiters]) check();
  });

  return {
    messages,
    ended,
    until(predicate, what, timeoutMs = 15_000) {
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        const check = () => {
          if (predicate(messages)) {
            done();
            resolve();
          } else if (finished !== undefined) {
            done();
            reject(new Error(`the watch ended (${describeEnd(finished)}) before ${what}; ${messages.length} messages`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`gave up waiting for ${what}; ${messages.length} messages`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    abort: () => controller.abort(),
  };
}

function describeEnd(end: WatchEnd): string {
  return end.how === "failed" ? `${end.failure.code} ${end.failure.reason ?? ""} ${end.failure.message}` : end.how;
}

/** The failure a watch ended with; throws if it ended any other way. */
export async function failureOfWatch(recording: { ended: Promise<WatchEnd> }): Promise<CallFailure> {
  const end = await recording.ended;
  if (end.how !== "failed") throw new Error(`expected the watch to fail, but it ${end.how}`);
  return end.failure;
}

/** The changes among watch messages, in order. */
export function changesOf(messages: readonly WatchMessage[]): DeploymentChange[] {
  return messages.flatMap((m) => (m.kind.case === "change" ? [m.kind.value as DeploymentChange] : []));
}

/** The events of the changes among watch messages, in order. */
export function changeEventsOf(messages: readonly WatchMessage[]): DeploymentEvent[] {
  return changesOf(messages).map((change) => change.event!);
}

/** The revisions of the changes among watch messages, in order. */
export function changeRevisionsOf(messages: readonly WatchMessage[]): number[] {
  return changeEventsOf(messages).map((event) => Number(event.revision));
}

/** "deployment#sequence" for an event: one key per change. */
export function eventKey(event: Pick<DeploymentEvent, "deployment" | "sequence">): string {
  return `${event.deployment}#${event.sequence}`;
}

/** Polls `condition` every 25 ms until it holds; the deadline only guards against hangs. */
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The value of an unlabelled gauge or counter on a service's Prometheus /metrics. */
export async function metricValue(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

/** A WatchDeployments call whose client does not read until told to. */
export interface StalledWatch {
  /** Starts reading: every message buffered and still to come is received, then how the call ended. */
  drain(): Promise<{ messages: WatchDeploymentsResponse[]; failure: CallFailure | undefined }>;
  /** Cancels the call and closes its connection. */
  close(): void;
}

/**
 * Opens WatchDeployments over a bare HTTP/2 connection of its own whose
 * client never reads until drain() is called: the stream is paused before
 * the first byte and the connection offers a tiny flow-control window
 * (`windowBytes`), so the server soon can send no more. (A grpc-js client
 * is no use here: paused, it still keeps reading the connection.)
 */
export function openStalledWatch(
  address: string,
  request: { filter?: string; resumeRevision?: bigint },
  authorization: string,
  windowBytes = 1024,
): StalledWatch {
  const session = http2.connect(`http://${address}`, { settings: { initialWindowSize: windowBytes } });
  session.on("error", () => undefined);
  const body = toBinary(WatchDeploymentsRequestSchema, create(WatchDeploymentsRequestSchema, request));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  const stream = session.request({
    ":method": "POST",
    ":path": "/launchpad.deployment.v1.DeploymentService/WatchDeployments",
    "content-type": "application/grpc",
    te: "trailers",
    authorization,
  });
  stream.on("error", () => undefined);
  stream.end(frame);
  stream.pause();
  let headers: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders | undefined;
  stream.on("response", (received) => (headers = received));
  stream.on("trailers", (received) => (trailers = received));

  return {
    drain() {
      return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          try {
            resolve({ messages: grpcFrames(Buffer.concat(chunks)).map((bytes) => fromBinary(WatchDeploymentsResponseSchema, bytes)), failure: failureOfTrailers(trailers ?? headers) });
          } catch (error) {
            reject(error);
          }
        });
        stream.on("close", () => reject(new Error(`the stream closed without ending (code ${stream.rstCode})`)));
        stream.resume();
      });
    },
    close() {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.destroy();
    },
  };
}

/** Splits a gRPC response body into its length-prefixed messages. */
function grpcFrames(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    if (body[at] !== 0) throw new Error("a compressed gRPC message was not asked for");
    const length = body.readUInt32BE(at + 1);
    messages.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return messages;
}

/** What a gRPC status in trailers carried; undefined for OK. */
function failureOfTrailers(trailers: http2.IncomingHttpHeaders): CallFailure | undefined {
  const code = Number(trailers["grpc-status"]);
  if (code === 0) return undefined;
  const details = trailers["grpc-status-details-bin"];
  const status = typeof details === "string" ? fromBinary(StatusSchema, Buffer.from(details, "base64")) : undefined;
  const info = (status?.details ?? []).map((d) => anyUnpack(d, ErrorInfoSchema)).find((d) => d !== undefined);
  return {
    code: code as Status,
    message: decodeURIComponent(String(trailers["grpc-message"] ?? "")),
    reason: info?.reason,
    metadata: info?.metadata ?? {},
    fields: [],
  };
}
