#!/usr/bin/env node
import { ConfigError, flagName, type Setting } from "../services/kit/config.js";
import { stopOnSignals, type RunningPart } from "../services/kit/lifecycle.js";
import { createLogger } from "../services/kit/logger.js";
import { loadUsersConfig, usersSettings } from "../services/users/config.js";
import { startUsers } from "../services/users/main.js";

const targets = ["all", "users"] as const;
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
  const rows = Object.values(usersSettings as Record<string, Setting<unknown>>).map(
    (s) => `  ${flagName(s.env).padEnd(26)} ${s.env.padEnd(32)} ${s.describe} (default: ${JSON.stringify(s.defaultText ?? s.defaultValue)})`,
  );
  console.log([`usage: launchpad [--target=${targets.join("|")}] [flags]`, "", ...rows].join("\n"));
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) return printHelp();
  const target = targetOf(argv);
  const config = loadUsersConfig();
  const parts: RunningPart[] = [];
  stopOnSignals(parts, createLogger("launchpad", config.logLevel));

  const users = await startUsers(config, createLogger("users", config.logLevel));
  parts.push(users);

  const lines = [`Launchpad is running (--target=${target}).`, `  users gRPC     ${config.host}:${users.port}`, `  users metrics  http://${config.host}:${users.metricsPort}/metrics`];
  if (users.admin) {
    lines.push("", "First start: an admin was created.", `  email     ${users.admin.email}`);
    if (users.admin.generatedPassword) {
      lines.push(`  password  ${users.admin.generatedPassword}   (shown once; set LAUNCHPAD_ADMIN_PASSWORD to choose it)`);
    }
  }
  lines.push(
    "",
    "Sign in:",
    `  npx buf curl --protocol grpc --http2-prior-knowledge -d '{"email":"${users.admin?.email ?? config.adminEmail}","password":"…"}' \\`,
    `    http://${config.host}:${users.port}/launchpad.user.v1.UserService/Login`,
  );
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
