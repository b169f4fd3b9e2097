/** The users and deployments services as benchmark children, and a signed-in admin token. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { LoginRequestSchema, LoginResponseSchema } from "../../../gen/launchpad/user/v1/user_service_pb.js";
import type { UsersChainReady } from "../users-getuser/chain-child.js";
import type { DeploymentsReady } from "./deployments-child.js";
import { startPinnedChild, type PinnedChild } from "./pinned-child.js";
import { callUnaryRaw } from "./raw-unary.js";

/** One server secret for every deployments replica of a run. */
const benchSecretKey = randomBytes(32).toString("base64");

/** A users service child with its admin signed in. */
export interface BenchUsers {
  child: PinnedChild<UsersChainReady>;
  address: string;
  /** An access token of the admin, valid for an hour: the one credential every call uses. */
  token: string;
  /** The admin's resource name ("users/…"). */
  adminName: string;
}

/** Starts the users service (`name` in messages) on a fresh SQLite database in `dataDir`, pinned to `cpu`, and signs in as its admin. */
export async function startBenchUsers(dataDir: string, cpu: number, name = "users service"): Promise<BenchUsers> {
  const email = "bench-admin@launchpad.local";
  const password = randomBytes(18).toString("base64url");
  const child = await startPinnedChild<UsersChainReady>({
    name,
    script: fileURLToPath(new URL("../users-getuser/chain-child.ts", import.meta.url)),
    cpu,
    env: {
      LAUNCHPAD_LISTEN_HOST: "127.0.0.1",
      LAUNCHPAD_USERS_PORT: "0",
      LAUNCHPAD_USERS_METRICS_PORT: "0",
      LAUNCHPAD_DATA_DIR: dataDir,
      LAUNCHPAD_USERS_DATABASE_URL: "",
      LAUNCHPAD_ADMIN_EMAIL: email,
      LAUNCHPAD_ADMIN_PASSWORD: password,
      LAUNCHPAD_LOG_LEVEL: "info",
      // Long enough for any run; verifying a token costs the same whatever its lifetime.
      LAUNCHPAD_ACCESS_TOKEN_TTL: "1h",
    },
  });
  try {
    const address = `127.0.0.1:${child.ready.port}`;
    const request = toBinary(LoginRequestSchema, create(LoginRequestSchema, { email, password }));
    const login = fromBinary(LoginResponseSchema, await callUnaryRaw(address, "/launchpad.user.v1.UserService/Login", request));
    const token = login.tokens?.accessToken;
    const adminName = login.user?.name;
    if (!token || !adminName) throw new Error(`${name}: Login returned no access token or no user`);
    return { child, address, token, adminName };
  } catch (error) {
    await child.stop();
    throw error;
  }
}

/** A deployments service child. */
export interface BenchDeployments {
  child: PinnedChild<DeploymentsReady>;
  address: string;
  metricsUrl: string;
}

/** How to start a deployments service child. */
export interface BenchDeploymentsOptions {
  name: string;
  cpu: number;
  /** Where its SQLite file goes (also when on PostgreSQL: unused then). */
  dataDir: string;
  usersAddress: string;
  /** A PostgreSQL URL (with ?schema=); SQLite when absent. */
  databaseUrl?: string;
  /** More LAUNCHPAD_* settings (or PGAPPNAME). */
  env?: Readonly<Record<string, string>>;
}

/** Starts the real deployments service (log level info, logs to /dev/null) pinned to one CPU. */
export async function startBenchDeployments(options: BenchDeploymentsOptions): Promise<BenchDeployments> {
  const child = await startPinnedChild<DeploymentsReady>({
    name: options.name,
    script: fileURLToPath(new URL("./deployments-child.ts", import.meta.url)),
    cpu: options.cpu,
    env: {
      LAUNCHPAD_LISTEN_HOST: "127.0.0.1",
      LAUNCHPAD_DEPLOYMENTS_PORT: "0",
      LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0",
      LAUNCHPAD_DATA_DIR: options.dataDir,
      LAUNCHPAD_DEPLOYMENTS_DATABASE_URL: options.databaseUrl ?? "",
      // Replicas on one database must share the server secret.
      LAUNCHPAD_SECRET_KEY: benchSecretKey,
      LAUNCHPAD_USERS_ADDRESS: options.usersAddress,
      LAUNCHPAD_LOG_LEVEL: "info",
      LAUNCHPAD_SHUTDOWN_GRACE: "2s",
      ...options.env,
    },
  });
  return {
    child,
    address: `127.0.0.1:${child.ready.port}`,
    metricsUrl: `http://127.0.0.1:${child.ready.metricsPort}/metrics`,
  };
}
