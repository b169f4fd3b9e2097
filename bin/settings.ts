import { agentSettings } from "../services/agent/config.js";
import type { Setting } from "../services/kit/config.js";
import { logFormatSetting } from "../services/kit/log-format.js";
import { deploymentsSettings } from "../services/deployments/config.js";
import { usersSettings } from "../services/users/config.js";
import { edgeSettings } from "../edge/config.js";

/** Every setting of every part, once each, keyed by its environment variable. */
export const allSettings: ReadonlyMap<string, Setting<unknown>> = new Map(
  [usersSettings, deploymentsSettings, edgeSettings, agentSettings]
    .flatMap((spec) => Object.values(spec as Record<string, Setting<unknown>>))
    .concat(logFormatSetting)
    .map((setting) => [setting.env, setting]),
);
