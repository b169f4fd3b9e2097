import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Channel, Client, Metadata } from "nice-grpc";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { NiceDefinitionOf } from "../../services/kit/grpc/service-definition.js";
import { loadUsersConfig } from "../../services/users/config.js";
import { startUsers, type RunningUsers } from "../../services/users/main.js";
import { bearer } from "./bearer.js";
import { startInProcess } from "./in-process-service.js";
import { cheapPasswordHashing } from "./program-sandbox.js";

/** A typed UserService client. */
export type UserClient = Client<NiceDefinitionOf<typeof UserService>>;

/** The admin every test service starts with. */
export const admin = { email: "admin@example.com", password: "correct horse battery staple" };

/** A users service running on ephemeral ports, with a client and captured logs. */
export interface TestUsersService {
  running: RunningUsers;
  address: string;
  channel: Channel;
  client: UserClient;
  logs: string[];
  dataDir: string;
  /** Metadata carrying "authorization: Bearer <token>". */
  auth(token: string): { metadata: Metadata };
  /** Signs in and returns the access token. */
  login(email: string, password: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the real users service (the same entry point the program uses) on
 * 127.0.0.1:0 with a fresh SQLite data directory, or PostgreSQL when
 * `databaseUrl` is given.
 */
export async function startTestUsers(env: Record<string, string> = {}): Promise<TestUsersService> {
  const dataDir = mkdtempSync(join(tmpdir(), "launchpad-users-"));
  const config = loadUsersConfig({
    env: {
      LAUNCHPAD_DATA_DIR: dataDir,
      LAUNCHPAD_USERS_PORT: "0",
      LAUNCHPAD_USERS_METRICS_PORT: "0",
      LAUNCHPAD_ADMIN_EMAIL: admin.email,
      LAUNCHPAD_ADMIN_PASSWORD: admin.password,
      LAUNCHPAD_LOGIN_DELAY: "0ms",
      // Suites hash hundreds of passwords: 2^14 keeps them fast; the default (2^17) is tested on its own.
      ...cheapPasswordHashing,
      LAUNCHPAD_SHUTDOWN_GRACE: "2s",
      ...env,
    },
    argv: [],
  });
  const started = await startInProcess("users", UserService, dataDir, (logger) => startUsers(config, logger));
  return {
    ...started,
    dataDir,
    auth: bearer,
    async login(email, password) {
      const response = await started.client.login({ email, password });
      return response.tokens!.accessToken;
    },
  };
}
