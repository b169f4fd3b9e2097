/**
 * Benchmark child: a Node load generator for CreateDeployment. h2load sends
 * the same body every time, which would measure the idempotent-replay path;
 * here every call carries its own request_id and its own service (so none
 * conflicts with another), encoded with protobuf-es per call and sent with a
 * grpc-js client: `concurrency` calls in flight (closed loop) over
 * `connections` HTTP/2 connections. Being Node, it costs real CPU per call
 * and reports it, so the parent can tell whether it was the bottleneck.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { Client, Metadata, credentials, type ServiceError } from "@grpc/grpc-js";
import { CreateDeploymentRequestSchema } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { runAsChild } from "../support/child-main.js";
import { serveRequests } from "../support/child-requests.js";

/** Runs the load for `seconds` against one server. */
export interface LoadRequest {
  type: "load";
  address: string;
  token: string;
  seconds: number;
  concurrency: number;
  connections: number;
  /** Makes services and request ids unique: lower-case letters, digits, dashes. */
  prefix: string;
}

/** What one load run did. */
export interface LoadReply {
  type: "loaded";
  completed: number;
  failed: number;
  /** Failures by gRPC status code and message (the first few kinds). */
  errors: Record<string, number>;
  seconds: number;
  /** Per successful call, send → response, in µs. */
  latenciesMicros: number[];
  /** This process's CPU (user + system) during the run, in µs. */
  cpuMicros: number;
}

const createPath = "/launchpad.deployment.v1.DeploymentService/CreateDeployment";
const raw = (bytes: Buffer): Buffer => bytes;
const channels = new Map<string, Client[]>();

function clientsFor(address: string, connections: number): Client[] {
  const key = `${address} ${connections}`;
  let clients = channels.get(key);
  if (clients === undefined) {
    clients = Array.from({ length: connections }, () => new Client(address, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }));
    channels.set(key, clients);
  }
  return clients;
}

function call(client: Client, body: Buffer, metadata: Metadata): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    client.makeUnaryRequest(createPath, raw, raw, body, metadata, { deadline: Date.now() + 30_000 }, (error: ServiceError | null) =>
      error ? reject(error) : resolve(),
    ),
  );
}

async function load(request: LoadRequest): Promise<LoadReply> {
  const clients = clientsFor(request.address, request.connections);
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${request.token}`);
  const latenciesMicros: number[] = [];
  const errors: Record<string, number> = {};
  let failed = 0;
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const end = started + request.seconds * 1000;
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!;
    while (performance.now() < end) {
      const id = `${request.prefix}-${next++}`;
      const body = Buffer.from(
        toBinary(
          CreateDeploymentRequestSchema,
          create(CreateDeploymentRequestSchema, {
            deployment: { service: id, version: "1.0.0", environment: "bench", description: "create throughput benchmark", labels: { bench: "create" } },
            requestId: id,
          }),
        ),
      );
      const sent = process.hrtime.bigint();
      try {
        await call(client, body, metadata);
        latenciesMicros.push(Number(process.hrtime.bigint() - sent) / 1000);
      } catch (error) {
        failed++;
        const { code, details } = error as ServiceError;
        const kind = `${code} ${details}`;
        if (kind in errors || Object.keys(errors).length < 5) errors[kind] = (errors[kind] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { type: "loaded", completed: latenciesMicros.length, failed, errors, seconds, latenciesMicros, cpuMicros: cpu.user + cpu.system };
}

serveRequests({ load: (message: LoadRequest) => load(message) });

await runAsChild<Record<string, never>>(async () => ({
  ready: {},
  stop: async () => {
    for (const clients of channels.values()) for (const client of clients) client.close();
  },
}));
