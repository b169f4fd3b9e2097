import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  Metadata,
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import {
  DeploymentService,
  GetDeploymentResponseSchema,
  WatchDeploymentsResponseSchema,
  type GetDeploymentRequest,
  type WatchDeploymentsRequest,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import { loadEdgeConfig } from "../../edge/config.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { capturedLogger } from "./captured-logger.js";

/** What the upstream saw of one call. */
export interface RecordedCall {
  path: string;
  /** Request metadata, by lower-case name. */
  metadata: Record<string, string[]>;
  /** The call's deadline as the upstream sees it: epoch milliseconds, or Infinity when none. */
  deadline: number;
  /** When the call arrived, epoch milliseconds. */
  receivedAt: number;
}

/** Names the upstream puts on every response, which must never reach an edge client. */
export const upstreamOnlyHeader = "x-upstream-only";
export const upstreamOnlyTrailer = "x-upstream-only-trailer";

/** The deployment name for which GetDeployment fails with NOT_FOUND and an ErrorInfo. */
export const missingDeployment = "deployments/missing";

/** A fake DeploymentService that records what reaches it, behind a real edge. */
export interface RecordingUpstream {
  address: string;
  calls: RecordedCall[];
  /** The edge in front of it (its UserService address points here too). */
  edge: RunningEdge;
  url: string;
  stop(): Promise<void>;
}

function definitionOf<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }) {
  return {
    path: methodPath(method),
    requestStream: false,
    responseStream: method.methodKind === "server_streaming",
    requestSerialize: (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
    requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
    responseSerialize: (message: MessageShape<O>) => Buffer.from(toBinary(method.output, message)),
    responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

/**
 * Starts a grpc-js server answering GetDeployment and WatchDeployments the
 * way the real service would, but recording every call's metadata and
 * deadline and adding headers and trailers of its own to every response;
 * then a real edge forwarding to it, with `edgeEnv` added to its settings.
 */
export async function startRecordingUpstream(edgeEnv: Record<string, string> = {}): Promise<RecordingUpstream> {
  const calls: RecordedCall[] = [];
  const record = (path: string, call: { metadata: Metadata; getDeadline(): Date | number }) => {
    const deadline = call.getDeadline();
    calls.push({
      path,
      metadata: Object.fromEntries(Object.entries(call.metadata.toJSON()).map(([k, v]) => [k, v.map(String)])),
      deadline: deadline instanceof Date ? deadline.getTime() : deadline,
      receivedAt: Date.now(),
    });
  };
  const responseHeaders = () => {
    const metadata = new Metadata();
    metadata.set(upstreamOnlyHeader, "header");
    metadata.set("set-cookie", "upstream=1");
    return metadata;
  };
  const trailers = () => {
    const metadata = new Metadata();
    metadata.set(upstreamOnlyTrailer, "trailer");
    return metadata;
  };

  const getDeployment = DeploymentService.method.getDeployment;
  const watchDeployments = DeploymentService.method.watchDeployments;
  const definition = {
    GetDeployment: definitionOf(getDeployment),
    WatchDeployments: definitionOf(watchDeployments),
  } as unknown as ServiceDefinition;

  const server = new Server();
  server.addService(definition, {
    GetDeployment(call: ServerUnaryCall<GetDeploymentRequest, unknown>, callback: sendUnaryData<unknown>) {
      record(methodPath(getDeployment), call);
      call.sendMetadata(responseHeaders());
      if (call.request.name === missingDeployment) {
        const metadata = trailers();
        const info = create(ErrorInfoSchema, { reason: "DEPLOYMENT_NOT_FOUND", domain: "launchpad.dev", metadata: { upstream: "recording" } });
        const status = create(StatusSchema, { code: 5, message: "no such deployment", details: [anyPack(ErrorInfoSchema, info)] });
        metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
        callback({ code: 5, details: "no such deployment", metadata });
        return;
      }
      callback(null, create(GetDeploymentResponseSchema, { deployment: { name: call.request.name, service: "recorded" } }), trailers());
    },
    WatchDeployments(call: ServerWritableStream<WatchDeploymentsRequest, unknown>) {
      record(methodPath(watchDeployments), call);
      call.sendMetadata(responseHeaders());
      call.write(create(WatchDeploymentsResponseSchema, { kind: { case: "snapshot", value: { deployments: [] } }, revision: 1n }));
      call.end(trailers());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  const address = `127.0.0.1:${port}`;
  const { logger } = capturedLogger("edge");
  const edge = await startEdge(
    loadEdgeConfig({
      env: {
        LAUNCHPAD_EDGE_PORT: "0",
        LAUNCHPAD_USERS_ADDRESS: address,
        LAUNCHPAD_DEPLOYMENTS_ADDRESS: address,
        LAUNCHPAD_SHUTDOWN_GRACE: "1s",
        ...edgeEnv,
      },
      argv: [],
    }),
    logger,
  );
  return {
    address,
    calls,
    edge,
    url: `http://127.0.0.1:${edge.port}`,
    async stop() {
      await edge.stop();
      server.forceShutdown();
    },
  };
}
