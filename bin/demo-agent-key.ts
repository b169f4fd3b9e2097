import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { provisionAgentKey } from "../services/agent/provision.js";
import { ensurePrivateDirectory, tightenPrivateFile } from "../services/kit/private-files.js";

/**
 * The demo agent's API key for --target=all: configured, or kept in the data
 * directory (mode 0600, like any client credential file), or created through
 * the API on the first start, while the new admin's password is at hand.
 * Undefined when none can be had (the agent then does not run).
 */
export async function demoAgentKey(options: {
  configured: string;
  dataDir: string;
  usersAddress: string;
  firstStartAdmin: { email: string; password: string } | undefined;
}): Promise<string | undefined> {
  if (options.configured) return options.configured;
  const file = join(options.dataDir, "demo-agent.key");
  if (existsSync(file)) {
    tightenPrivateFile(file);
    return readFileSync(file, "utf8").trim();
  }
  if (!options.firstStartAdmin) return undefined;
  const key = await provisionAgentKey(options.usersAddress, options.firstStartAdmin);
  ensurePrivateDirectory(options.dataDir);
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
