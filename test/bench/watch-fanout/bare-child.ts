/**
 * Benchmark child: a bare @grpc/grpc-js server for the watch fan-out
 * baseline. WatchDeployments answers with a snapshot (BENCH_SNAPSHOT_BASE64)
 * and holds the stream; a unary Fire call (its request: a revision as
 * decimal text) writes one change message (BENCH_CHANGE_BASE64 with that
 * revision) to every open stream, then answers. Messages are protobuf-es
 * objects encoded per write, as any grpc-js server does. No middleware, no
 * database, no queues: the floor the real service is compared with.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from "@grpc/grpc-js";
import {
  WatchDeploymentsRequestSchema,
  WatchDeploymentsResponseSchema,
  type WatchDeploymentsRequest,
  type WatchDeploymentsResponse,
} from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { runAsChild } from "../support/child-main.js";
import { memoryRequest } from "../support/child-memory.js";
import { serveRequests } from "../support/child-requests.js";
import { firePath } from "./fire.js";

/** What the bare child reports when it is ready. */
export interface BareFanoutReady {
  port: number;
}

serveRequests({ memory: memoryRequest });

await runAsChild<BareFanoutReady>(async () => {
  const decode = (variable: string) => fromBinary(WatchDeploymentsResponseSchema, Buffer.from(process.env[variable] ?? "", "base64"));
  const snapshot = decode("BENCH_SNAPSHOT_BASE64");
  const change = decode("BENCH_CHANGE_BASE64");
  const open = new Set<ServerWritableStream<WatchDeploymentsRequest, WatchDeploymentsResponse>>();
  const raw = (bytes: Buffer) => bytes;
  // The same keepalive settings as the services' servers (services/kit/server.ts).
  const server = new Server({
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  });
  server.addService(
    {
      WatchDeployments: {
        path: "/launchpad.deployment.v1.DeploymentService/WatchDeployments",
        requestStream: false,
        responseStream: true,
        requestSerialize: (request: WatchDeploymentsRequest) => Buffer.from(toBinary(WatchDeploymentsRequestSchema, request)),
        requestDeserialize: (bytes: Buffer) => fromBinary(WatchDeploymentsRequestSchema, bytes),
        responseSerialize: (message: WatchDeploymentsResponse) => Buffer.from(toBinary(WatchDeploymentsResponseSchema, message)),
        responseDeserialize: (bytes: Buffer) => fromBinary(WatchDeploymentsResponseSchema, bytes),
      },
      Fire: {
        path: firePath,
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      WatchDeployments: (call: ServerWritableStream<WatchDeploymentsRequest, WatchDeploymentsResponse>) => {
        open.add(call);
        const forget = () => open.delete(call);
        call.on("cancelled", forget);
        call.on("error", forget);
        call.on("close", forget);
        call.write(snapshot);
      },
      Fire: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        const message = create(WatchDeploymentsResponseSchema, { kind: change.kind, revision: BigInt(call.request.toString()) });
        for (const stream of open) stream.write(message);
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const stop = async () => {
    for (const stream of open) stream.end();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  };
  return { ready: { port }, stop };
});
