/**
 * Benchmark child: holds many WatchDeployments streams over a few HTTP/2
 * connections (one grpc-js channel each, with its own subchannel pool) and
 * timestamps every message the moment grpc-js hands it over, with the
 * machine's monotonic clock (process.hrtime), which every process shares.
 * Messages stay undecoded until the parent collects them, so the clock is
 * read before any protobuf work. Driven by the parent over IPC.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, Metadata, credentials, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  WatchDeploymentsRequestSchema,
  WatchDeploymentsResponseSchema,
} from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { serveWatchClient, type ClosedReply, type CollectRequest } from "../support/watch-client.js";

/** Opens `count` more streams, `batch` at a time, each waiting for its snapshot. */
export interface OpenRequest {
  type: "open";
  address: string;
  count: number;
  /** Streams per HTTP/2 connection; connections are opened as needed. */
  streamsPerConnection: number;
  batch: number;
  /** Sent as "authorization: Bearer <token>" on every stream; none when empty. */
  token: string;
}

/** Every stream has its snapshot. */
export interface OpenedReply {
  type: "opened";
  streams: number;
  connections: number;
  millis: number;
  /** One snapshot message of these streams as received, base64. */
  snapshotBase64: string;
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
  /** One change message as received, base64. */
  changeBase64: string;
  /** This process's CPU time (user + system) from the last mark until every stream had the change, before any decoding, in µs. */
  cpuMicros: number;
}

const watchPath = "/launchpad.deployment.v1.DeploymentService/WatchDeployments";
const identity = (bytes: Buffer): Buffer => bytes;
// protobuf-es writes fields in number order: a change message starts with the tag of field 2 (length-delimited).
const changeTag = (2 << 3) | 2;

interface Stream {
  call: ClientReadableStream<Buffer>;
  snapshot: boolean;
  ended: boolean;
}

const channels: Client[] = [];
const streams: Stream[] = [];
let streamsPerConnection = 100;
let snapshotSample: Buffer | undefined;
// Receipts of changes since the last collect, in arrival order.
let receiptStream: number[] = [];
let receiptTime: bigint[] = [];
let receiptBytes: Buffer[] = [];
let changesReceived = 0;
let failed = 0;
let firstError = "";
let closing = false;
let snapshotWaiters: (() => void)[] = [];
let pendingSnapshots = 0;

function open(address: string, request: Buffer, metadata: Metadata): void {
  const index = streams.length;
  if (index % streamsPerConnection === 0) {
    channels.push(new Client(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, "grpc.max_receive_message_length": -1 }));
  }
  const channel = channels[channels.length - 1]!;
  const call = channel.makeServerStreamRequest(watchPath, identity, identity, request, metadata, {});
  const stream: Stream = { call, snapshot: false, ended: false };
  streams.push(stream);
  pendingSnapshots++;
  call.on("data", (bytes: Buffer) => {
    const time = process.hrtime.bigint();
    if (!stream.snapshot) {
      stream.snapshot = true;
      snapshotSample ??= bytes;
      snapshotArrived();
      return;
    }
    receiptStream.push(index);
    receiptTime.push(time);
    receiptBytes.push(bytes);
    if (bytes[0] === changeTag) changesReceived++;
  });
  call.on("error", (error: ServiceError) => {
    stream.ended = true;
    if (closing) return;
    failed++;
    firstError ||= `${error.code} ${error.details}`;
    if (!stream.snapshot) {
      stream.snapshot = true;
      snapshotArrived();
    }
  });
  call.on("end", () => {
    stream.ended = true;
  });
}

function snapshotArrived(): void {
  pendingSnapshots--;
  if (pendingSnapshots === 0) for (const wake of snapshotWaiters.splice(0)) wake();
}

async function handleOpen(message: OpenRequest): Promise<OpenedReply> {
  streamsPerConnection = message.streamsPerConnection;
  const metadata = new Metadata();
  if (message.token) metadata.set("authorization", `Bearer ${message.token}`);
  const request = Buffer.from(toBinary(WatchDeploymentsRequestSchema, create(WatchDeploymentsRequestSchema, {})));
  const started = performance.now();
  for (let opened = 0; opened < message.count; ) {
    const batch = Math.min(message.batch, message.count - opened);
    for (let i = 0; i < batch; i++) open(message.address, request, metadata);
    opened += batch;
    if (pendingSnapshots > 0) await new Promise<void>((resolve) => snapshotWaiters.push(resolve));
    if (failed > 0) throw new Error(`${failed} streams failed before their snapshot: ${firstError}`);
  }
  return {
    type: "opened",
    streams: streams.length,
    connections: channels.length,
    millis: performance.now() - started,
    snapshotBase64: snapshotSample?.toString("base64") ?? "",
  };
}

async function handleCollect(message: CollectRequest, cpuSinceMark: () => number): Promise<CollectedReply> {
  const revision = BigInt(message.revision);
  const t0 = BigInt(message.t0);
  const live = streams.filter((s) => !s.ended).length;
  const deadline = performance.now() + message.timeoutMs;
  while (changesReceived < live && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  const cpuMicros = cpuSinceMark();
  const [streamOf, timeOf, bytesOf] = [receiptStream, receiptTime, receiptBytes];
  receiptStream = [];
  receiptTime = [];
  receiptBytes = [];
  changesReceived = 0;
  const got = new Set<number>();
  const latenciesMicros: number[] = [];
  let sample: Buffer | undefined;
  for (let i = 0; i < streamOf.length; i++) {
    const response = fromBinary(WatchDeploymentsResponseSchema, bytesOf[i]!);
    if (response.kind.case !== "change" || response.revision !== revision || got.has(streamOf[i]!)) continue;
    got.add(streamOf[i]!);
    sample ??= bytesOf[i];
    latenciesMicros.push(Number(timeOf[i]! - t0) / 1000);
  }
  return {
    type: "collected",
    latenciesMicros,
    missing: live - got.size,
    failed,
    firstError,
    changeBase64: sample?.toString("base64") ?? "",
    cpuMicros,
  };
}

async function handleClose(): Promise<ClosedReply> {
  closing = true;
  for (const stream of streams) if (!stream.ended) stream.call.cancel();
  for (const channel of channels) channel.close();
  streams.length = 0;
  channels.length = 0;
  snapshotSample = undefined;
  snapshotWaiters = [];
  pendingSnapshots = 0;
  receiptStream = [];
  receiptTime = [];
  receiptBytes = [];
  changesReceived = 0;
  failed = 0;
  firstError = "";
  // Let the cancellations go out before the parent measures the server.
  await new Promise((resolve) => setTimeout(resolve, 200));
  closing = false;
  return { type: "closed" };
}

await serveWatchClient({ open: handleOpen, collect: handleCollect, close: handleClose });
