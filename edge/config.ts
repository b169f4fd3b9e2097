import { loadConfig, settings, type ConfigSource, type Setting } from "../services/kit/config.js";
import { proxySecretSettings } from "../services/kit/proxy-secret.js";
import { commonSettings, identityFollowerSettings } from "../services/kit/settings.js";
import { connectionLimitSettings } from "./connection-limits.js";
import { protectionSettings } from "./protections/index.js";

/** `setting`, refusing durations under `minimum` (as written, e.g. "10s"). */
function atLeast(setting: Setting<number>, minimum: string): Setting<number> {
  const least = setting.parse(minimum);
  return {
    ...setting,
    parse(raw) {
      const value = setting.parse(raw);
      if (value < least) throw new Error(`expected at least ${minimum}`);
      return value;
    },
  };
}

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
  // The services refuse PINGs without data more often than every 10 s (grpc-js's default policy answers with GOAWAY).
  upstreamKeepalive: atLeast(
    settings.duration("LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE", "30s", "How often the edge PINGs each service connection; at least 10s, the services' floor"),
    "10s",
  ),
  upstreamKeepaliveTimeout: atLeast(
    settings.duration("LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE_TIMEOUT", "10s", "A service connection whose PING is not answered within this is closed, failing its calls; at least 1s"),
    "1s",
  ),
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
