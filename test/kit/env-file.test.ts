import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../services/kit/config.js";
import { loadEnvFile } from "../../services/kit/env-file.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A .env file holding `text`, in a new temp directory. */
function envFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "launchpad-env-"));
  dirs.push(dir);
  writeFileSync(join(dir, ".env"), text);
  return join(dir, ".env");
}

describe("loadEnvFile", () => {
  it("sets the file's variables, with comments, blank lines, export, quotes and a value spanning lines", () => {
    const env: Record<string, string | undefined> = {};
    loadEnvFile(envFile('# settings\n\nLAUNCHPAD_USERS_PORT=6000\nexport LAUNCHPAD_LOG_LEVEL="warn"\nKEY="line one\nline two"\nEMPTY=\n'), env);
    expect(env).toEqual({ LAUNCHPAD_USERS_PORT: "6000", LAUNCHPAD_LOG_LEVEL: "warn", KEY: "line one\nline two", EMPTY: "" });
  });

  it("leaves variables the environment already holds, even empty ones", () => {
    const env: Record<string, string | undefined> = { LAUNCHPAD_USERS_PORT: "7000", LAUNCHPAD_LOG_LEVEL: "" };
    loadEnvFile(envFile("LAUNCHPAD_USERS_PORT=6000\nLAUNCHPAD_LOG_LEVEL=debug\nLAUNCHPAD_EDGE_PORT=8000\n"), env);
    expect(env).toEqual({ LAUNCHPAD_USERS_PORT: "7000", LAUNCHPAD_LOG_LEVEL: "", LAUNCHPAD_EDGE_PORT: "8000" });
  });

  it("does nothing when the file is missing", () => {
    const env: Record<string, string | undefined> = {};
    loadEnvFile(join(tmpdir(), "launchpad-no-such-dir", ".env"), env);
    expect(env).toEqual({});
  });

  it("refuses a line that is not NAME=value, naming the file and line, and sets nothing", () => {
    const path = envFile("A=1\nLAUNCHPAD_USERS_PORT 6000\n");
    const env: Record<string, string | undefined> = {};
    expect(() => loadEnvFile(path, env)).toThrow(new ConfigError(`${path}:2: expected NAME=value, a # comment or a blank line`));
    expect(env).toEqual({});
  });

  it("refuses a .env that cannot be read as a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "launchpad-env-"));
    dirs.push(dir);
    mkdirSync(join(dir, ".env"));
    expect(() => loadEnvFile(join(dir, ".env"), {})).toThrow(/\.env: cannot read it \(EISDIR\)$/);
  });
});
