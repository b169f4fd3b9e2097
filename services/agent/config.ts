import { loadConfig, settings, type ConfigSource, type Setting } from "../kit/config.js";
import { commonSettings } from "../kit/settings.js";

function fraction(env: string, defaultValue: number, describe: string): Setting<number> {
  return {
    env,
    describe,
    defaultValue,
    parse(raw) {
      const value = Number(raw);
      if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(raw)) throw new Error("expected a number from 0 to 1");
      return value;
    },
  };
}

/** The settings of the demo deploy agent. */
export const agentSettings = {
  logLevel: commonSettings.logLevel,
  dataDir: commonSettings.dataDir,
  deploymentsAddress: settings.string("LAUNCHPAD_DEPLOYMENTS_ADDRESS", "127.0.0.1:50052", "host:port of DeploymentService"),
  apiKey: settings.string("LAUNCHPAD_AGENT_API_KEY", "", "API key of the agent's service account (ROLE_AGENT)"),
  step: settings.duration("LAUNCHPAD_AGENT_STEP", "1s", "Time between the agent's progress reports"),
  failureRate: fraction("LAUNCHPAD_AGENT_FAILURE_RATE", 0.1, "Share of deployments the demo agent fails"),
  demoAgent: settings.oneOf("LAUNCHPAD_DEMO_AGENT", ["on", "off"], "on", "Whether --target=all runs the demo agent"),
};

/** The demo agent's configuration, validated. */
export type AgentConfig = ReturnType<typeof loadAgentConfig>;

/** Reads the demo agent's configuration from flags and the environment. */
export function loadAgentConfig(source?: ConfigSource) {
  return loadConfig(agentSettings, source);
}
