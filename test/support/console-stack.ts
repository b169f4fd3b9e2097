import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.js";
import { repoRoot, runLaunchpad, type ProgramRun } from "./program.js";

/** The built program split into its parts, each a process, as a browser meets it through the edge. */
export interface ConsoleStack {
  /** The edge's URL, where the console is served. */
  url: string;
  adminEmail: string;
  adminPassword: string;
  /** host:port of DeploymentService (for direct gRPC calls). */
  deploymentsAddress: string;
  /** Stops DeploymentService (SIGTERM, as an orchestrator would) and resolves when it has exited. */
  stopDeployments(): Promise<void>;
  /** Starts DeploymentService again on the same port. */
  startDeployments(): Promise<void>;
  /** Everything the processes wrote, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

const adminEmail = "admin@launchpad.test";
const adminPassword = "console tests correct horse";

/**
 * Starts users, deployments, the edge and the demo agent from `dist/` (the
 * program `npm run build` made, with the built console), on SQLite in a new
 * data directory. The agent's key is made by the same one-shot job
 * docker-compose runs. Deployments keep a fixed port so it can be restarted.
 */
export async function startConsoleStack(options: { agentStep: string; accessTokenTtl: string }): Promise<ConsoleStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-console-"));
  const [usersPort, deploymentsPort, edgePort] = [await freePort(), await freePort(), await freePort()];
  const usersAddress = `127.0.0.1:${usersPort}`;
  const deploymentsAddress = `127.0.0.1:${deploymentsPort}`;
  const url = `http://127.0.0.1:${edgePort}`;
  const common = { LAUNCHPAD_DATA_DIR: dataDir, LAUNCHPAD_LOG_LEVEL: "warn", LAUNCHPAD_USERS_METRICS_PORT: "0", LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0" };
  const runs: Array<[string, ProgramRun]> = [];
  const start = async (name: string, target: string, env: Record<string, string>) => {
    const run = runLaunchpad([`--target=${target}`], { ...common, ...env }, { built: true });
    runs.push([name, run]);
    await run.waitForStdout(/Launchpad is running/, 60_000);
    return run;
  };

  await start("users", "users", {
    LAUNCHPAD_USERS_PORT: String(usersPort),
    LAUNCHPAD_ADMIN_EMAIL: adminEmail,
    LAUNCHPAD_ADMIN_PASSWORD: adminPassword,
    LAUNCHPAD_ACCESS_TOKEN_TTL: options.accessTokenTtl,
  });
  const deploymentsEnv = { LAUNCHPAD_DEPLOYMENTS_PORT: String(deploymentsPort), LAUNCHPAD_USERS_ADDRESS: usersAddress };
  let deployments = await start("deployments", "deployments", deploymentsEnv);
  await start("edge", "edge", {
    LAUNCHPAD_EDGE_PORT: String(edgePort),
    LAUNCHPAD_USERS_ADDRESS: usersAddress,
    LAUNCHPAD_DEPLOYMENTS_ADDRESS: deploymentsAddress,
    // Every test loads the console and signs in from the same address.
    LAUNCHPAD_RATE_LIMIT_ANONYMOUS: "0",
  });

  const keyFile = join(dataDir, "agent.key");
  const provision = spawn(process.execPath, ["dist/bin/provision-agent-key.js", url, keyFile], {
    cwd: repoRoot,
    env: { ...process.env, LAUNCHPAD_ADMIN_EMAIL: adminEmail, LAUNCHPAD_ADMIN_PASSWORD: adminPassword },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let provisionErrors = "";
  provision.stderr!.setEncoding("utf8").on("data", (chunk: string) => (provisionErrors += chunk));
  const [code] = (await once(provision, "close")) as [number | null];
  if (code !== 0) throw new Error(`provision-agent-key failed (${code}): ${provisionErrors}`);
  await start("agent", "agent", {
    LAUNCHPAD_DEPLOYMENTS_ADDRESS: deploymentsAddress,
    LAUNCHPAD_AGENT_API_KEY: readFileSync(keyFile, "utf8").trim(),
    LAUNCHPAD_AGENT_STEP: options.agentStep,
    LAUNCHPAD_AGENT_FAILURE_RATE: "0",
  });

  return {
    url,
    adminEmail,
    adminPassword,
    deploymentsAddress,
    async stopDeployments() {
      deployments.child.kill("SIGTERM");
      await deployments.waitForExit(30_000);
    },
    async startDeployments() {
      deployments = await start("deployments", "deployments", deploymentsEnv);
    },
    logs: () => runs.map(([name, run]) => `--- ${name}\n${run.stdout()}${run.stderr()}`).join("\n"),
    async stop() {
      for (const [, run] of runs.reverse()) {
        run.child.kill("SIGTERM");
        await run.waitForExit(30_000).catch(() => run.child.kill("SIGKILL"));
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
