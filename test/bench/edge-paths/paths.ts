/**
 * The five ways to call GetDeployment in the edge paths benchmark: the
 * stack they share (users, deployments and the edge, all pinned to one
 * CPU), what h2load sends on each, and a check with a real client of each
 * protocol before any load.
 */
import { create, fromBinary, fromJson, toBinary, toJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createConnectTransport } from "@connectrpc/connect-node";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateDeploymentRequestSchema,
  CreateDeploymentResponseSchema,
  DeploymentService,
  GetDeploymentRequestSchema,
  GetDeploymentResponseSchema,
} from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { startBenchEdge, type BenchEdge } from "../support/bench-edge.js";
import { startBenchDeployments, startBenchUsers, type BenchDeployments, type BenchUsers } from "../support/bench-stack.js";
import { grpcFrame } from "../support/grpc-frame.js";
import type { MeasuredProcess, SplitRound } from "../support/measure-round.js";
import { scrapeMetric } from "../support/prometheus.js";
import { callUnaryRaw } from "../support/raw-unary.js";
import type { PathName } from "./report.js";

const getPath = "/launchpad.deployment.v1.DeploymentService/GetDeployment";
const createPath = "/launchpad.deployment.v1.DeploymentService/CreateDeployment";

/** Users, deployments and the edge, pinned to one CPU, with one deployment to read. */
export interface PathsStack {
  users: BenchUsers;
  deployments: BenchDeployments;
  edge: BenchEdge;
  /** The admin's access token. */
  token: string;
  /** "deployments/<id>" of the deployment every path reads. */
  deploymentName: string;
  stop(): Promise<void>;
}

/** Starts the three servers on `cpu` (fresh SQLite stores under `work`) and creates the deployment to read. */
export async function startPathsStack(work: string, cpu: number): Promise<PathsStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const each of stops.reverse()) await each();
  };
  try {
    const usersDir = join(work, "users");
    const deploymentsDir = join(work, "deployments");
    await Promise.all([mkdir(usersDir, { recursive: true }), mkdir(deploymentsDir, { recursive: true })]);
    const users = await startBenchUsers(usersDir, cpu);
    stops.push(() => users.child.stop());
    const deployments = await startBenchDeployments({ name: "deployments service", cpu, dataDir: deploymentsDir, usersAddress: users.address });
    stops.push(() => deployments.child.stop());
    const edge = await startBenchEdge({ cpu, usersAddress: users.address, deploymentsAddress: deployments.address });
    stops.push(() => edge.child.stop());

    const request = create(CreateDeploymentRequestSchema, {
      deployment: { service: "checkout", version: "2.4.1", environment: "production", description: "edge paths benchmark", labels: { team: "payments" } },
      requestId: "edge-paths-bench",
    });
    const created = fromBinary(
      CreateDeploymentResponseSchema,
      await callUnaryRaw(deployments.address, createPath, toBinary(CreateDeploymentRequestSchema, request), { authorization: `Bearer ${users.token}` }),
    );
    const deploymentName = created.deployment?.name;
    if (!deploymentName) throw new Error("CreateDeployment returned no deployment name");
    return { users, deployments, edge, token: users.token, deploymentName, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One way to call GetDeployment: what h2load sends, which processes serve it, and a check with a real client. */
export interface BenchPath {
  name: PathName;
  url: string;
  headers: Record<string, string>;
  /** What h2load POSTs; GET when absent. */
  bodyFile?: string;
  /** The server processes the path goes through; their CPU is charged to it. */
  processes: MeasuredProcess[];
  /** One call with a real client of the protocol; throws unless it succeeded and returned the deployment. */
  verify(): Promise<void>;
}

/**
 * Whether REST transcoding is wired into the running edge: edge/server.ts
 * imports edge/rest, or GET /v1/deployments/{id} gets anything but 404.
 */
export async function restWiring(stack: PathsStack): Promise<{ wired: boolean; reason: string }> {
  const handler = new URL("../../../edge/rest/handler.ts", import.meta.url);
  if (!existsSync(handler)) return { wired: false, reason: "edge/rest/handler.ts does not exist" };
  const server = readFileSync(new URL("../../../edge/server.ts", import.meta.url), "utf8");
  if (/from\s+["']\.\/rest\//.test(server)) return { wired: true, reason: "edge/server.ts imports edge/rest" };
  const url = `${stack.edge.url}/v1/${stack.deploymentName}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${stack.token}` }, signal: AbortSignal.timeout(10_000) });
  await response.arrayBuffer();
  if (response.status !== 404) return { wired: true, reason: `GET ${url} answered HTTP ${response.status}` };
  return { wired: false, reason: "edge/server.ts does not import edge/rest, and GET /v1/deployments/{id} answers 404" };
}

/** The paths to measure, their request files written under `work`. */
export async function definePaths(stack: PathsStack, work: string, withRest: boolean): Promise<BenchPath[]> {
  const { deploymentName: name, token, edge, deployments, users } = stack;
  const authorization = `Bearer ${token}`;
  const message = create(GetDeploymentRequestSchema, { name });
  const binary = toBinary(GetDeploymentRequestSchema, message);
  const files = {
    grpc: join(work, "get-deployment.grpc"),
    json: join(work, "get-deployment.json"),
    proto: join(work, "get-deployment.binpb"),
  };
  await writeFile(files.grpc, grpcFrame(binary));
  await writeFile(files.json, toJsonString(GetDeploymentRequestSchema, message));
  await writeFile(files.proto, binary);

  const grpcHeaders = { "content-type": "application/grpc", te: "trailers", authorization };
  const servers = {
    users: { name: "users", pid: users.child.pid },
    deployments: { name: "deployments", pid: deployments.child.pid },
    edge: { name: "edge", pid: edge.child.pid },
  };
  const viaEdge = [servers.edge, servers.deployments, servers.users];
  const expectDeployment = (path: PathName, got: string | undefined) => {
    if (got !== name) throw new Error(`${path}: GetDeployment returned ${got === undefined ? "no deployment" : `"${got}"`}, expected "${name}"`);
  };
  const viaGrpc = (path: PathName, address: string) => async () => {
    const reply = await callUnaryRaw(address, getPath, binary, { authorization }).catch((error: { code?: number; details?: string }) => {
      throw new Error(`${path}: GetDeployment did not end with grpc-status 0 (got ${error.code ?? "no status"}: ${error.details ?? String(error)})`);
    });
    expectDeployment(path, fromBinary(GetDeploymentResponseSchema, reply).deployment?.name);
  };
  const viaConnect = (path: PathName, useBinaryFormat: boolean) => async () => {
    const sessionManager = new Http2SessionManager(edge.url);
    try {
      const client = createClient(DeploymentService, createConnectTransport({ baseUrl: edge.url, httpVersion: "2", sessionManager, useBinaryFormat }));
      const reply = await client.getDeployment({ name }, { headers: { authorization }, timeoutMs: 10_000 }).catch((error: unknown) => {
        throw new Error(`${path}: GetDeployment over Connect failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      expectDeployment(path, reply.deployment?.name);
    } finally {
      sessionManager.abort();
    }
  };

  const paths: BenchPath[] = [
    {
      name: "grpc-direct",
      url: `http://${deployments.address}${getPath}`,
      headers: grpcHeaders,
      bodyFile: files.grpc,
      processes: [servers.deployments, servers.users],
      verify: viaGrpc("grpc-direct", deployments.address),
    },
    {
      name: "grpc-edge",
      url: `${edge.url}${getPath}`,
      headers: grpcHeaders,
      bodyFile: files.grpc,
      processes: viaEdge,
      verify: viaGrpc("grpc-edge", edge.address),
    },
    {
      name: "connect-json",
      url: `${edge.url}${getPath}`,
      headers: { "content-type": "application/json", "connect-protocol-version": "1", authorization },
      bodyFile: files.json,
      processes: viaEdge,
      verify: viaConnect("connect-json", false),
    },
    {
      name: "connect-binary",
      url: `${edge.url}${getPath}`,
      headers: { "content-type": "application/proto", "connect-protocol-version": "1", authorization },
      bodyFile: files.proto,
      processes: viaEdge,
      verify: viaConnect("connect-binary", true),
    },
  ];
  if (withRest) {
    const url = `${edge.url}/v1/${name}`;
    paths.push({
      name: "rest",
      url,
      headers: { accept: "application/json", authorization },
      processes: viaEdge,
      async verify() {
        const response = await fetch(url, { headers: { accept: "application/json", authorization }, signal: AbortSignal.timeout(10_000) });
        const body = await response.text();
        if (response.status !== 200) throw new Error(`rest: GET ${url} answered HTTP ${response.status}: ${body.slice(0, 300)}`);
        expectDeployment("rest", fromJson(GetDeploymentResponseSchema, JSON.parse(body)).deployment?.name);
      },
    });
  }
  return paths;
}

/**
 * Runs a round and checks, from the deployments service's own
 * grpc_server_handled_total, that it handled exactly one GetDeployment per
 * request and every one ended OK: h2load sees HTTP 200 even when a gRPC
 * status in the trailers is an error.
 */
export async function expectAllOk(metricsUrl: string, path: PathName, round: () => Promise<SplitRound>): Promise<SplitRound> {
  const before = await handledGets(metricsUrl);
  const result = await round();
  const after = await handledGets(metricsUrl);
  const ok = after.ok - before.ok;
  const notOk = after.notOk - before.notOk;
  if (notOk > 0 || ok !== result.requests) {
    throw new Error(`${path}: the deployments service handled ${ok} GetDeployment OK and ${notOk} not OK for ${result.requests} requests; results discarded`);
  }
  return result;
}

async function handledGets(metricsUrl: string): Promise<{ ok: number; notOk: number }> {
  let ok = 0;
  let notOk = 0;
  for (const { labels, value } of await scrapeMetric(metricsUrl, "grpc_server_handled_total")) {
    if (labels.grpc_method !== "GetDeployment") continue;
    if (labels.grpc_code === "OK") ok += value;
    else notOk += value;
  }
  return { ok, notOk };
}
