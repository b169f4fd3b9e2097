/**
 * An internal service calling Launchpad over gRPC with the generated code:
 * copy this file, point it at a Launchpad service or the edge, and give it
 * the API key of a service account.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import type { Deployment } from "../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService } from "../gen/launchpad/deployment/v1/deployment_service_pb.js";

/** A typed DeploymentService client. */
export type DeploymentClient = Client<typeof DeploymentService>;

/**
 * A DeploymentService client over gRPC (HTTP/2) at `baseUrl`, e.g. the edge
 * "http://launchpad:8080" or the service "http://deployments:50052", sending
 * `apiKey` with every call.
 */
export function createDeploymentClient(baseUrl: string, apiKey: string): DeploymentClient {
  const authorize: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${apiKey}`);
    return next(request);
  };
  // A deadline on every call; one call can still set its own (timeoutMs).
  return createClient(DeploymentService, createGrpcTransport({ baseUrl, interceptors: [authorize], defaultTimeoutMs: 10_000 }));
}

/** Launchpad's refusal of a call: its gRPC code and the stable reason of its google.rpc.ErrorInfo. */
export interface Refusal {
  code: Code;
  reason: string;
  metadata: Record<string, string>;
}

/**
 * Asks Launchpad to deploy `service@version` to `environment`. Retrying with
 * the same `requestId` returns the same deployment instead of a second one.
 * A refusal Launchpad explains (e.g. ABORTED DEPLOYMENT_IN_PROGRESS, with the
 * running deployment's name in its metadata) is returned; anything else,
 * such as a deadline or an unreachable server, is thrown as a ConnectError.
 */
export async function deploy(
  client: DeploymentClient,
  request: { service: string; version: string; environment: string; requestId: string },
): Promise<{ deployment: Deployment } | { refused: Refusal }> {
  const { requestId, ...deployment } = request;
  try {
    const response = await client.createDeployment({ deployment, requestId }, { timeoutMs: 5_000 });
    return { deployment: response.deployment! };
  } catch (error) {
    const refusal = ConnectError.from(error);
    const [info] = refusal.findDetails(ErrorInfoSchema);
    if (!info) throw refusal;
    return { refused: { code: refusal.code, reason: info.reason, metadata: info.metadata } };
  }
}
