#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { createChannel, createClient } from "nice-grpc";
import { HealthCheckResponse_ServingStatus, HealthDefinition } from "nice-grpc-server-health/lib/proto/grpc/health/v1/health.js";
import type { ConfigSource } from "../services/kit/config.js";
import { loadAgentConfig } from "../services/agent/config.js";
import { loadDeploymentsConfig } from "../services/deployments/config.js";
import { loadUsersConfig } from "../services/users/config.js";
import { loadEdgeConfig } from "../edge/config.js";

/**
 * A container health check with no binary to install (there is no
 * grpc_health_probe here). Exits 0 when healthy, 1 when not:
 *
 *   healthcheck grpc <host:port> [service]   grpc.health.v1 Check is SERVING
 *   healthcheck http <url>                   GET answers 2xx
 *   healthcheck [pid <pid>]                  what that launchpad process serves (PID 1 by default)
 *
 * Without arguments (the image's HEALTHCHECK: one image for every target) it
 * reads the target, flags and environment of the container's main process
 * from /proc/1 and finds its ports with the same settings the program reads:
 * users and deployments must answer grpc.health.v1 SERVING (NOT_SERVING
 * while they drain on SIGTERM), the edge GET /healthz, and the agent, which
 * serves nothing, needs the DeploymentService it drives to be SERVING.
 */

const timeoutMs = 3_000;

type Probe = { kind: "grpc"; address: string; service?: string } | { kind: "http"; url: string };

async function grpcServing(address: string, service = ""): Promise<string | undefined> {
  const channel = createChannel(address);
  try {
    const { status } = await createClient(HealthDefinition, channel).check({ service }, { signal: AbortSignal.timeout(timeoutMs) });
    return status === HealthCheckResponse_ServingStatus.SERVING ? undefined : `${address}: ${HealthCheckResponse_ServingStatus[status]}`;
  } catch (error) {
    return `${address}: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    channel.close();
  }
}

async function httpOk(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.ok ? undefined : `${url}: HTTP ${response.status}`;
  } catch (error) {
    return `${url}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** The settings of a launchpad process (`node dist/bin/launchpad.js --target=…`): its flags and environment, from /proc. */
function processSettings(pid: string): ConfigSource {
  const list = (file: string) => readFileSync(`/proc/${pid}/${file}`, "utf8").split("\0").filter(Boolean);
  const argv = list("cmdline");
  const script = argv.findIndex((arg) => /launchpad\.[jt]s$/.test(arg));
  if (script < 0) throw new Error(`process ${pid} is not launchpad: ${argv.join(" ")}`);
  let env: Record<string, string | undefined> = process.env;
  try {
    env = Object.fromEntries(list("environ").map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
  } catch {
    // Another user's process: a container's exec shares its environment anyway.
  }
  return { env, argv: argv.slice(script + 1) };
}

/** A listen address as something to connect to: 0.0.0.0 and :: mean this host. */
function local(host: string): string {
  return host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
}

/** What a target serves, from the same settings (environment, then flags) the program reads. */
function probesOf(source: ConfigSource): Probe[] {
  const at = source.argv.indexOf("--target");
  const target = at >= 0 ? source.argv[at + 1] : (source.argv.find((a) => a.startsWith("--target="))?.slice(9) ?? "all");
  const probes: Probe[] = [];
  if (target === "all" || target === "users") {
    const users = loadUsersConfig(source);
    probes.push({ kind: "grpc", address: `${local(users.host)}:${users.port}` });
  }
  if (target === "all" || target === "deployments") {
    const deployments = loadDeploymentsConfig(source);
    probes.push({ kind: "grpc", address: `${local(deployments.host)}:${deployments.port}` });
  }
  if (target === "all" || target === "edge") {
    const edge = loadEdgeConfig(source);
    probes.push({ kind: "http", url: `http://${local(edge.host)}:${edge.port}/healthz` });
  }
  if (target === "agent") probes.push({ kind: "grpc", address: loadAgentConfig(source).deploymentsAddress });
  return probes;
}

function probesFromArgs(args: string[]): Probe[] {
  const [kind = "pid", where, service] = args;
  if (kind === "grpc" && where) return [{ kind, address: where, service }];
  if (kind === "http" && where) return [{ kind, url: where }];
  if (kind === "pid") return probesOf(processSettings(where ?? "1"));
  throw new Error("usage: healthcheck [grpc <host:port> [service] | http <url> | pid <pid>]");
}

async function main(args: string[]): Promise<number> {
  const probes = probesFromArgs(args);
  const failures = (await Promise.all(probes.map((p) => (p.kind === "grpc" ? grpcServing(p.address, p.service) : httpOk(p.url))))).filter(
    (failure) => failure !== undefined,
  );
  for (const failure of failures) process.stderr.write(`unhealthy: ${failure}\n`);
  return failures.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`healthcheck: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
