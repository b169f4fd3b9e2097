/**
 * Benchmark child: the real users service, started as `launchpad
 * --target=users` starts it (configuration from the LAUNCHPAD_* environment,
 * the production JSON logger on stdout). Reports its ports when listening.
 */
import { createLogger } from "../../../services/kit/logger.js";
import { loadUsersConfig } from "../../../services/users/config.js";
import { startUsers } from "../../../services/users/main.js";
import { runAsChild } from "../support/child-main.js";

/** What the users child reports when it is ready. */
export interface UsersChainReady {
  port: number;
  metricsPort: number;
}

await runAsChild<UsersChainReady>(async () => {
  const config = loadUsersConfig({ env: process.env, argv: [] });
  const logger = createLogger("launchpad", config.logLevel).child({ part: "users" });
  const users = await startUsers(config, logger);
  return { ready: { port: users.port, metricsPort: users.metricsPort }, stop: () => users.stop() };
});
