#!/usr/bin/env node
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { demoAgentEmail } from "../services/agent/provision.js";

/**
 * provision-agent-key <edge-url> <key-file>
 *
 * A one-shot job for split deployments (docker-compose, Kubernetes), where
 * no `--target=all` is there to create the demo agent's key: signed in as the
 * first admin (LAUNCHPAD_ADMIN_EMAIL, LAUNCHPAD_ADMIN_PASSWORD), it creates
 * the ROLE_AGENT service account and an API key for it through the edge over
 * Connect JSON, and writes the key's secret to <key-file> (mode 0600).
 *
 * Re-running keeps a key already in <key-file>. When the account exists but
 * the file was lost, the account gets a new key. Waits up to a minute for the
 * edge and its upstreams to answer.
 */

class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls one method through the edge with the Connect protocol's JSON encoding. */
async function call<T>(edge: string, method: string, body: unknown, token?: string): Promise<T> {
  const response = await fetch(new URL(method, edge), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "connect-protocol-version": "1",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) {
    const error = (text ? JSON.parse(text) : {}) as { code?: string; message?: string };
    throw new CallError(error.code ?? `http_${response.status}`, `${method}: ${error.code ?? response.status} ${error.message ?? text}`);
  }
  return JSON.parse(text) as T;
}

const retryable = (error: unknown) =>
  !(error instanceof CallError) || error.code === "unavailable" || error.code === "deadline_exceeded" || error.code.startsWith("http_5");

async function provision(edge: string, admin: { email: string; password: string }): Promise<string> {
  const users = "launchpad.user.v1.UserService";
  const { tokens } = await call<{ tokens: { accessToken: string; refreshToken: string } }>(edge, `/${users}/Login`, admin);
  const token = tokens.accessToken;
  try {
    let name: string;
    try {
      const { user } = await call<{ user: { name: string } }>(
        edge,
        `/${users}/CreateUser`,
        { user: { email: demoAgentEmail, displayName: "Demo agent", kind: "USER_KIND_SERVICE_ACCOUNT", role: "ROLE_AGENT" } },
        token,
      );
      name = user.name;
    } catch (error) {
      if (!(error instanceof CallError && error.code === "already_exists")) throw error;
      const { users: found = [] } = await call<{ users?: Array<{ name: string }> }>(
        edge,
        `/${users}/ListUsers`,
        { filter: `email = "${demoAgentEmail}"` },
        token,
      );
      if (!found[0]) throw error;
      name = found[0].name;
    }
    const { secret } = await call<{ secret: string }>(edge, `/${users}/CreateApiKey`, { parent: name, apiKey: { displayName: "demo agent" } }, token);
    return secret;
  } finally {
    await call(edge, `/${users}/Logout`, { refreshToken: tokens.refreshToken }, token).catch(() => undefined);
  }
}

async function main(args: string[]): Promise<void> {
  const [edge, keyFile] = args;
  if (!edge || !keyFile) throw new Error("usage: provision-agent-key <edge-url> <key-file>");
  if (existsSync(keyFile) && readFileSync(keyFile, "utf8").trim() !== "") {
    process.stdout.write(`provision-agent-key: ${keyFile} already holds the agent's key; kept\n`);
    return;
  }
  const admin = { email: process.env.LAUNCHPAD_ADMIN_EMAIL || "admin@launchpad.local", password: process.env.LAUNCHPAD_ADMIN_PASSWORD ?? "" };
  if (!admin.password) throw new Error("LAUNCHPAD_ADMIN_PASSWORD: required, the first admin's password");
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const secret = await provision(edge, admin);
      writeFileSync(`${keyFile}.tmp`, `${secret}\n`, { mode: 0o600 });
      renameSync(`${keyFile}.tmp`, keyFile);
      process.stdout.write(`provision-agent-key: ${demoAgentEmail} has a new API key in ${keyFile}\n`);
      return;
    } catch (error) {
      if (!retryable(error) || Date.now() > deadline) throw error;
      await sleep(1_000);
    }
  }
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`provision-agent-key: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
