/** The two servers of the users GetUser benchmark: started, signed in and checked before any load. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { fileURLToPath } from "node:url";
import { GetUserRequestSchema, GetUserResponseSchema } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import { startBenchUsers } from "../support/bench-stack.js";
import type { RoundResult } from "../support/measure-round.js";
import { startPinnedChild, type PinnedChild } from "../support/pinned-child.js";
import { scrapeMetric } from "../support/prometheus.js";
import { callUnaryRaw } from "../support/raw-unary.js";
import type { BareReady } from "./bare-child.js";

/** The CPU both servers are pinned to. */
export const serverCpu = 0;
const getUserPath = "/launchpad.user.v1.UserService/GetUser";

/** A server h2load can call GetUser on. */
export interface ServerUnderTest {
  child: PinnedChild<unknown>;
  url: string;
  headers: Record<string, string>;
}

/** The chain server, signed in: what h2load needs to call GetUser on it, and what it returned. */
export interface SignedInChain extends ServerUnderTest {
  metricsUrl: string;
  requestBytes: Uint8Array;
  responseBytes: Buffer;
}

/** Starts the users service on a fresh SQLite database, signs in as its admin and checks one GetUser. */
export async function startChain(dataDir: string): Promise<SignedInChain> {
  const { child, address, token, adminName: name } = await startBenchUsers(dataDir, serverCpu, "users service (chain)");
  try {
    const headers = { authorization: `Bearer ${token}` };
    const requestBytes = toBinary(GetUserRequestSchema, create(GetUserRequestSchema, { name }));
    const responseBytes = await verified("chain", () => callUnaryRaw(address, getUserPath, requestBytes, headers));
    if (fromBinary(GetUserResponseSchema, responseBytes).user?.name !== name) {
      throw new Error(`chain: GetUser(${name}) returned a different user`);
    }
    return {
      child,
      url: `http://${address}${getUserPath}`,
      headers: grpcHeaders(headers),
      metricsUrl: `http://127.0.0.1:${child.ready.metricsPort}/metrics`,
      requestBytes,
      responseBytes,
    };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Starts the bare server and checks that it answers with exactly `response`. */
export async function startBare(response: Buffer): Promise<ServerUnderTest> {
  const child = await startPinnedChild<BareReady>({
    name: "bare grpc-js server",
    script: fileURLToPath(new URL("./bare-child.ts", import.meta.url)),
    cpu: serverCpu,
    env: { BENCH_RESPONSE_BASE64: response.toString("base64") },
  });
  try {
    const address = `127.0.0.1:${child.ready.port}`;
    const answer = await verified("bare", () => callUnaryRaw(address, getUserPath, new Uint8Array()));
    if (!answer.equals(response)) throw new Error("bare: the response differs from the chain's");
    return { child, url: `http://${address}${getUserPath}`, headers: grpcHeaders({}) };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** Runs one GetUser with a real gRPC client; anything but grpc-status 0 aborts the benchmark. */
async function verified(server: "bare" | "chain", call: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await call();
  } catch (error) {
    const { code, details } = error as { code?: number; details?: string };
    throw new Error(`${server}: GetUser did not return grpc-status 0 (got ${code ?? "no status"}: ${details ?? String(error)}); not measuring`);
  }
}

function grpcHeaders(extra: Record<string, string>): Record<string, string> {
  return { "content-type": "application/grpc", te: "trailers", ...extra };
}

/**
 * Runs a round and checks, from the service's own grpc_server_handled_total,
 * that every GetUser in it ended OK: h2load sees HTTP 200 even when the
 * gRPC status in the trailers is an error.
 */
export async function expectAllOk(metricsUrl: string, round: () => Promise<RoundResult>): Promise<RoundResult> {
  const before = await handledGetUsers(metricsUrl);
  const result = await round();
  const after = await handledGetUsers(metricsUrl);
  const notOk = after.notOk - before.notOk;
  if (notOk > 0 || after.ok - before.ok !== result.requests) {
    throw new Error(`chain: ${notOk} of ${result.requests} GetUser calls did not end with status OK; results discarded`);
  }
  return result;
}

async function handledGetUsers(metricsUrl: string): Promise<{ ok: number; notOk: number }> {
  const samples = await scrapeMetric(metricsUrl, "grpc_server_handled_total");
  let ok = 0;
  let notOk = 0;
  for (const { labels, value } of samples) {
    if (labels.grpc_method !== "GetUser") continue;
    if (labels.grpc_code === "OK") ok += value;
    else notOk += value;
  }
  return { ok, notOk };
}

