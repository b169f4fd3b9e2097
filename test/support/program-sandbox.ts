import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Channel } from "nice-grpc";
import { afterEach } from "vitest";
import { killLaunchpads } from "./program.js";

/** Where the tests of a suite that starts whole programs keep what must go when each test ends. */
export interface ProgramSandbox {
  /** A new, empty data directory (named `<prefix>…` in the temp dir). */
  newDataDir(): string;
  /** Channels to close. */
  channels: Channel[];
}

/**
 * For a suite (or describe block) that starts `launchpad` programs: after
 * each test, closes the sandbox's channels, kills every launchpad still
 * running, and then deletes the data directories it made.
 */
export function programSandbox(prefix: string): ProgramSandbox {
  const dataDirs: string[] = [];
  const channels: Channel[] = [];
  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    await killLaunchpads();
    for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return {
    newDataDir() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dataDirs.push(dir);
      return dir;
    },
    channels,
  };
}

/**
 * A cheaper scrypt cost for suites about something else (start-up, shutdown,
 * the agent): the default cost is tested in test/security/sign-in.test.ts and
 * by the first-run browser test, and costs about 0.6 s of a core per check.
 */
export const cheapPasswordHashing = { LAUNCHPAD_PASSWORD_COST: "14" };

/** The environment of a program with its own data directory, every port ephemeral. */
export function ephemeralEnv(dataDir: string): Record<string, string> {
  return {
    LAUNCHPAD_DATA_DIR: dataDir,
    LAUNCHPAD_USERS_PORT: "0",
    LAUNCHPAD_USERS_METRICS_PORT: "0",
    LAUNCHPAD_DEPLOYMENTS_PORT: "0",
    LAUNCHPAD_DEPLOYMENTS_METRICS_PORT: "0",
    LAUNCHPAD_EDGE_PORT: "0",
  };
}
