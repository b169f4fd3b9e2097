import { join } from "node:path";
import { Registry, collectDefaultMetrics } from "prom-client";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import type { Logger } from "../kit/logger.js";
import type { BuiltService } from "../kit/serve-part.js";
import { deriveKey, loadSecretKey } from "../kit/secret-key.js";
import { createServiceServer } from "../kit/server.js";
import { bootstrapAdmin, type BootstrapAdmin } from "./bootstrap-admin.js";
import type { UsersConfig } from "./config.js";
import { loadProxySecret } from "../kit/proxy-secret.js";
import { createClientAddress, parseTrustedProxies } from "./client-address.js";
import { createLocalVerifier } from "./credentials.js";
import { createIdentityChangeFeed } from "./identity-feed.js";
import { createStreamSlots } from "./stream-slots.js";
import { createLoginThrottle, defaultThrottlePolicy } from "./login-throttle.js";
import { createPasswords } from "./passwords.js";
import { createUserService } from "./service.js";
import { createSessions } from "./sessions.js";
import { loadSigningKeys } from "./signing-keys.js";
import { openUserStore } from "./store/index.js";
import { userRequestRules } from "./validation.js";

/** An unstarted users service, and what its first start created. */
export interface UsersServer extends BuiltService {
  /** Set on the first start of an empty database. */
  admin: BootstrapAdmin | undefined;
}

/**
 * Builds the users service: opens (and migrates) its database, loads or
 * creates the signing keys and the first admin, and assembles UserService
 * behind the shared middleware chain. Nothing listens yet.
 */
export async function buildUsersServer(
  config: UsersConfig,
  logger: Logger,
  clock: () => Date = () => new Date(),
): Promise<UsersServer> {
  const secret = loadSecretKey(config, config.databaseUrl ? "LAUNCHPAD_USERS_DATABASE_URL" : undefined);
  const store = await openUserStore({ url: config.databaseUrl || undefined, sqlitePath: join(config.dataDir, "users.db") });
  try {
    const keys = await loadSigningKeys(store, {
      secret,
      rotationMs: config.signingKeyRotation,
      accessTokenTtlMs: config.accessTokenTtl,
      clock,
      logger,
    });
    const passwords = createPasswords(config.passwordCost);
    const admin = await bootstrapAdmin(store, passwords, { email: config.adminEmail, password: config.adminPassword }, clock());
    const proxySecret = loadProxySecret(config);
    if (proxySecret === "") logger.warn("no LAUNCHPAD_PROXY_SECRET: x-forwarded-for is ignored, so sign-ins through the edge are throttled by the edge's address");
    const rules = { issuer: config.issuer, audience: config.audience };
    const verifier = createLocalVerifier(store, keys, rules, clock);
    const identityChanges = createIdentityChangeFeed(store, { heartbeatMs: config.identityHeartbeat, logger });
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const server = createServiceServer({ logger, registry, verifier, services: [UserService], rules: userRequestRules });
    server.add(
      UserService,
      createUserService({
        store,
        keys,
        verifier,
        clock,
        stopping: server.stopping,
        sessions: createSessions(store, keys, {
          ...rules,
          accessTokenTtlMs: config.accessTokenTtl,
          refreshTokenTtlMs: config.refreshTokenTtl,
        }),
        clientAddress: createClientAddress(parseTrustedProxies(config.trustedProxies), proxySecret),
        throttle: createLoginThrottle(store, { ...defaultThrottlePolicy, baseDelayMs: config.loginDelay }),
        passwords,
        pageTokenKey: deriveKey(secret, "page-token"),
        identityChanges,
        identityStreams: createStreamSlots(config.identityMaxStreams),
      }),
    );
    return {
      server,
      registry,
      admin,
      async close() {
        keys.stop();
        identityChanges.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
