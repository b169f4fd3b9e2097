/**
 * Benchmark child: holds many WatchDeployments streams through the edge
 * with the Connect protocol — connect-node's own client
 * (createConnectTransport, HTTP/2, one Http2SessionManager per connection),
 * as a Node program would watch — and timestamps every message with the
 * machine's monotonic clock (process.hrtime), which every process shares.
 * The Connect client hands over messages decoded, so the receive time
 * includes decoding one message. Driven by the parent over IPC.
 */
import { toBinary } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { DeploymentService, WatchDeploymentsResponseSchema } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { serveWatchClient, type ClosedReply, type CollectRequest } from "../support/watch-client.js";

/** Opens `count` more streams, `batch` at a time, each waiting for its snapshot. */
export interface OpenRequest {
  type: "open";
  /** The edge, "http://host:port". */
  baseUrl: string;
  count: number;
  /** Streams per HTTP/2 connection; connections are opened as needed. */
  streamsPerConnection: number;
  batch: number;
  /** Sent as "authorization: Bearer <token>" on every stream. */
  token: string;
  /** Connect binary (application/connect+proto) rather than Connect JSON (application/connect+json). */
  binary: boolean;
}

/** Every stream has its snapshot. */
export interface OpenedReply {
  type: "opened";
  streams: number;
  connections: number;
  millis: number;
  /** Deployments in one snapshot. */
  snapshotDeployments: number;
}

/** Delivery latencies of one change. */
export interface CollectedReply {
  type: "collected";
  /** Per stream that got the change: receive time − t0, in µs. */
  latenciesMicros: number[];
  /** Open streams that did not get it in time. */
  missing: number;
  /** Streams that have ended with an error so far. */
  failed: number;
  firstError: string;
  /** Bytes of one change message in protobuf binary. */
  changeBytes: number;
  /** This process's CPU (user + system) from the last mark until every stream had the change, in µs. */
  cpuMicros: number;
}

interface Stream {
  controller: AbortController;
  snapshot: boolean;
  ended: boolean;
}

interface Receipt {
  stream: number;
  time: bigint;
  revision: bigint;
  bytes: number;
}

const sessions: Http2SessionManager[] = [];
let clients: Client<typeof DeploymentService>[] = [];
const streams: Stream[] = [];
let receipts: Receipt[] = [];
let snapshotDeployments = 0;
let failed = 0;
let firstError = "";
let closing = false;
let pendingSnapshots = 0;
let snapshotWaiters: (() => void)[] = [];

function open(message: OpenRequest): void {
  const index = streams.length;
  if (index % message.streamsPerConnection === 0) {
    const sessionManager = new Http2SessionManager(message.baseUrl);
    sessions.push(sessionManager);
    const transport = createConnectTransport({ baseUrl: message.baseUrl, httpVersion: "2", sessionManager, useBinaryFormat: message.binary });
    clients.push(createClient(DeploymentService, transport));
  }
  const client = clients[clients.length - 1]!;
  const stream: Stream = { controller: new AbortController(), snapshot: false, ended: false };
  streams.push(stream);
  pendingSnapshots++;
  const gotSnapshot = () => {
    if (stream.snapshot) return;
    stream.snapshot = true;
    pendingSnapshots--;
    if (pendingSnapshots === 0) for (const wake of snapshotWaiters.splice(0)) wake();
  };
  void (async () => {
    try {
      const responses = client.watchDeployments({}, { headers: { authorization: `Bearer ${message.token}` }, signal: stream.controller.signal });
      for await (const response of responses) {
        const time = process.hrtime.bigint();
        if (!stream.snapshot) {
          if (response.kind.case === "snapshot") snapshotDeployments = response.kind.value.deployments.length;
          gotSnapshot();
        } else if (response.kind.case === "change") {
          receipts.push({ stream: index, time, revision: response.revision, bytes: receipts.length === 0 ? toBinary(WatchDeploymentsResponseSchema, response).length : 0 });
        }
      }
    } catch (error) {
      if (!closing && !stream.controller.signal.aborted) {
        failed++;
        firstError ||= error instanceof Error ? error.message : String(error);
      }
    } finally {
      stream.ended = true;
      gotSnapshot();
    }
  })();
}

async function handleOpen(message: OpenRequest): Promise<OpenedReply> {
  const started = performance.now();
  for (let opened = 0; opened < message.count; ) {
    const batch = Math.min(message.batch, message.count - opened);
    for (let i = 0; i < batch; i++) open(message);
    opened += batch;
    if (pendingSnapshots > 0) await new Promise<void>((resolve) => snapshotWaiters.push(resolve));
    if (failed > 0) throw new Error(`${failed} streams failed before their snapshot: ${firstError}`);
  }
  return { type: "opened", streams: streams.length, connections: sessions.length, millis: performance.now() - started, snapshotDeployments };
}

async function handleCollect(message: CollectRequest, cpuSinceMark: () => number): Promise<CollectedReply> {
  const revision = BigInt(message.revision);
  const t0 = BigInt(message.t0);
  const live = streams.filter((s) => !s.ended).length;
  const deadline = performance.now() + message.timeoutMs;
  const arrived = () => receipts.filter((r) => r.revision === revision).length;
  while (arrived() < live && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  const cpuMicros = cpuSinceMark();
  const mine = receipts;
  receipts = [];
  const got = new Set<number>();
  const latenciesMicros: number[] = [];
  let changeBytes = 0;
  for (const receipt of mine) {
    if (receipt.revision !== revision || got.has(receipt.stream)) continue;
    got.add(receipt.stream);
    changeBytes ||= receipt.bytes;
    latenciesMicros.push(Number(receipt.time - t0) / 1000);
  }
  return { type: "collected", latenciesMicros, missing: live - got.size, failed, firstError, changeBytes, cpuMicros };
}

async function handleClose(): Promise<ClosedReply> {
  closing = true;
  for (const stream of streams) if (!stream.ended) stream.controller.abort();
  // Let the cancellations go out before the connections close.
  await new Promise((resolve) => setTimeout(resolve, 200));
  for (const session of sessions) session.abort();
  sessions.length = 0;
  clients = [];
  streams.length = 0;
  receipts = [];
  snapshotWaiters = [];
  pendingSnapshots = 0;
  failed = 0;
  firstError = "";
  // And let the edge see the connections go before the parent measures it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  closing = false;
  return { type: "closed" };
}

await serveWatchClient({ open: handleOpen, collect: handleCollect, close: handleClose });
