import { loadConfig, settings, type ConfigSource } from "../services/kit/config.js";
import { proxySecretSettings } from "../services/kit/proxy-secret.js";
import { commonSettings, identityFollowerSettings } from "../services/kit/settings.js";
import { connectionLimitSettings } from "./connection-limits.js";
import { protectionSettings } from "./protections/index.js";

/** The settings of the edge. */
export const edgeSettings = {
  ...protectionSettings,
  ...connectionLimitSettings,
  host: commonSettings.host,
  logLevel: commonSettings.logLevel,
  shutdownGrace: commonSettings.shutdownGrace,
  issuer: commonSettings.issuer,
  audience: commonSettings.audience,
  ...proxySecretSettings,
  ...identityFollowerSettings,
  port: settings.port("LAUNCHPAD_EDGE_PORT", 8080, "Edge HTTP port: Connect, gRPC-Web, gRPC, REST, console"),
  usersAddress: settings.string("LAUNCHPAD_USERS_ADDRESS", "127.0.0.1:50051", "host:port of UserService"),
  deploymentsAddress: settings.string("LAUNCHPAD_DEPLOYMENTS_ADDRESS", "127.0.0.1:50052", "host:port of DeploymentService"),
  requestTimeout: settings.duration("LAUNCHPAD_EDGE_REQUEST_TIMEOUT", "30s", "Deadline of unary calls that name none"),
  tlsCert: settings.string("LAUNCHPAD_TLS_CERT", "", "PEM certificate file; with LAUNCHPAD_TLS_KEY the edge serves TLS (HTTP/2 and HTTP/1.1 by ALPN)"),
  tlsKey: settings.string("LAUNCHPAD_TLS_KEY", "", "PEM private key file of LAUNCHPAD_TLS_CERT"),
  consoleDir: settings.string("LAUNCHPAD_CONSOLE_DIR", "", "Directory of the built web console (index.html, assets/); empty: dist/console beside the program"),
};

/** The edge's configuration, validated. */
export type EdgeConfig = ReturnType<typeof loadEdgeConfig>;

/** Reads the edge's configuration from flags and the environment. */
export function loadEdgeConfig(source?: ConfigSource) {
  return loadConfig(edgeSettings, source);
}
