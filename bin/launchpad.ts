#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { startAgent } from "../services/agent/agent.js";
import { loadAgentConfig } from "../services/agent/config.js";
import { checkFlags, ConfigError, flagName, loadConfig } from "../services/kit/config.js";
import { loadEnvFile } from "../services/kit/env-file.js";
import { stopOnSignals, type RunningPart } from "../services/kit/lifecycle.js";
import { logDestination, logFormatSetting } from "../services/kit/log-format.js";
import { createLogger, type Logger } from "../services/kit/logger.js";
import { loadDeploymentsConfig } from "../services/deployments/config.js";
import { startDeployments } from "../services/deployments/main.js";
import { loadUsersConfig } from "../services/users/config.js";
import { startUsers } from "../services/users/main.js";
import { loadEdgeConfig } from "../edge/config.js";
import { startEdge } from "../edge/main.js";
import { demoAgentKey } from "./demo-agent-key.js";
import { allSettings } from "./settings.js";

const targets = ["all", "users", "deployments", "edge", "agent"] as const;
type Target = (typeof targets)[number];

function targetOf(argv: string[]): Target {
  const at = argv.indexOf("--target");
  const value = at >= 0 ? (argv[at + 1] ?? "") : (argv.find((a) => a.startsWith("--target="))?.slice("--target=".length) ?? "all");
  if (!(targets as readonly string[]).includes(value)) {
    throw new ConfigError(`--target: expected one of ${targets.join(", ")}, got "${value}"`);
  }
  return value as Target;
}

function printHelp(): void {
  const rows = [...allSettings.values()].map(
    (s) => `  ${flagName(s.env).padEnd(30)} ${s.env.padEnd(36)} ${s.describe} (default: ${JSON.stringify(s.defaultText ?? s.defaultValue)})`,
  );
  const precedence = "A flag wins over its variable; a variable of the environment wins over one in ./.env.";
  console.log([`usage: launchpad [--target=${targets.join("|")}] [flags]`, precedence, "", ...rows].join("\n"));
}

/** Makes the logger of a part, all writing to the program's one destination. */
type LoggerOf = (part: string, level: string) => Logger;

/** Starts the parts of a target, in dependency order; returns them and what to tell the user. */
async function start(target: Target, parts: RunningPart[], loggerOf: LoggerOf): Promise<string[]> {
  const lines = [`Launchpad is running (--target=${target}).`];
  const agentConfig = loadAgentConfig();
  let usersAddress: string | undefined;
  let deploymentsAddress = agentConfig.deploymentsAddress;
  let firstStartAdmin: { email: string; password: string } | undefined;
  let adminEmail = "";
  let edgeUrl: string | undefined;
  // One process: the users service and the edge share a secret made here unless one is configured.
  const inProcessProxySecret = target === "all" ? randomBytes(32).toString("base64url") : "";

  if (target === "all" || target === "users") {
    const config = loadUsersConfig();
    if (!config.proxySecret && !config.proxySecretFile) config.proxySecret = inProcessProxySecret;
    const users = await startUsers(config, loggerOf("users", config.logLevel));
    parts.push(users);
    usersAddress = `${config.host}:${users.port}`;
    adminEmail = config.adminEmail;
    lines.push(`  users        gRPC ${usersAddress}   metrics http://${config.host}:${users.metricsPort}/metrics`);
    if (users.admin) {
      firstStartAdmin = { email: users.admin.email, password: users.admin.generatedPassword ?? config.adminPassword };
      lines.push("", "First start: an admin was created.", `  email     ${users.admin.email}`);
      if (users.admin.generatedPassword) {
        lines.push(`  password  ${users.admin.generatedPassword}   (shown once; set LAUNCHPAD_ADMIN_PASSWORD to choose it)`, "");
      }
    }
  }
  if (target === "all" || target === "deployments") {
    const config = loadDeploymentsConfig();
    if (usersAddress) config.usersAddress = usersAddress;
    const deployments = await startDeployments(config, loggerOf("deployments", config.logLevel));
    parts.push(deployments);
    deploymentsAddress = `${config.host}:${deployments.port}`;
    lines.push(`  deployments  gRPC ${deploymentsAddress}   metrics http://${config.host}:${deployments.metricsPort}/metrics`);
  }
  if (target === "all" || target === "edge") {
    const config = loadEdgeConfig();
    if (usersAddress) config.usersAddress = usersAddress;
    if (!config.proxySecret && !config.proxySecretFile) config.proxySecret = inProcessProxySecret;
    if (target === "all") config.deploymentsAddress = deploymentsAddress;
    const edge = await startEdge(config, loggerOf("edge", config.logLevel));
    parts.push(edge);
    edgeUrl = `${config.tlsCert ? "https" : "http"}://${config.host}:${edge.port}`;
    lines.push(`  edge         ${edgeUrl}   gRPC, Connect, gRPC-Web, REST; API docs ${edgeUrl}/docs`);
    lines.push(`  console      ${edgeUrl}/   the web console, in a browser`);
  }
  if (target === "agent" || (target === "all" && agentConfig.demoAgent === "on")) {
    const apiKey =
      target === "agent"
        ? agentConfig.apiKey
        : await demoAgentKey({ configured: agentConfig.apiKey, dataDir: agentConfig.dataDir, usersAddress: usersAddress!, firstStartAdmin });
    if (!apiKey) {
      if (target === "agent") throw new ConfigError("LAUNCHPAD_AGENT_API_KEY (--agent-api-key): required for --target=agent");
      lines.push("  demo agent   off: no API key (set LAUNCHPAD_AGENT_API_KEY)");
    } else {
      const logger = loggerOf("agent", agentConfig.logLevel);
      const agent = startAgent({ deploymentsAddress, apiKey, stepMs: agentConfig.step, failureRate: agentConfig.failureRate, logger });
      parts.push({ name: "agent", stop: () => agent.stop() });
      lines.push(`  demo agent   driving PENDING deployments on ${deploymentsAddress} (LAUNCHPAD_DEMO_AGENT=off to stop it)`);
    }
  }
  if (usersAddress) {
    lines.push(
      "",
      "Sign in:",
      ...(edgeUrl ? [`  open ${edgeUrl}/ as ${adminEmail}, or over the API:`] : []),
      `  npx buf curl --protocol grpc --http2-prior-knowledge -d '{"email":"${adminEmail}","password":"…"}' \\`,
      `    ${edgeUrl ?? `http://${usersAddress}`}/launchpad.user.v1.UserService/Login`,
    );
  }
  return lines;
}

async function main(argv: string[]): Promise<void> {
  checkFlags(argv, ["--target", ...[...allSettings.keys()].map(flagName)], { "--help": "h" });
  if (argv.includes("--help") || argv.includes("-h")) return printHelp();
  // Variables of the environment win over the file's.
  loadEnvFile(".env");
  const target = targetOf(argv);
  // Every part's settings are validated before anything starts.
  loadUsersConfig();
  loadDeploymentsConfig();
  loadEdgeConfig();
  const agentConfig = loadAgentConfig();
  const destination = logDestination(loadConfig({ logFormat: logFormatSetting }).logFormat);
  const loggerOf: LoggerOf = (part, level) => createLogger(part, level, destination);
  const parts: RunningPart[] = [];
  stopOnSignals(parts, loggerOf("launchpad", agentConfig.logLevel));
  const lines = await start(target, parts, loggerOf);
  process.stdout.write(`${lines.join("\n")}\n`);
}

main(process.argv.slice(2)).catch((error) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`launchpad: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`launchpad: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
