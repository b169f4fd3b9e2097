import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";
import { ConfigError } from "./config.js";

/** A line of a .env file: `NAME=value`, optionally after `export`. */
const assignment = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=(.*)$/;

/**
 * Reads `path` (a .env file) into `env`, setting only the variables `env`
 * does not already hold: real environment variables win. A missing file is
 * fine; an unreadable one, or a line that is neither `NAME=value`, a
 * comment nor blank, is a ConfigError naming the file and line.
 * process.loadEnvFile is not used: it does not say which line is wrong.
 */
export function loadEnvFile(path: string, env: Record<string, string | undefined> = process.env): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new ConfigError(`${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  checkLines(path, text);
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (env[name] === undefined) env[name] = value;
  }
}

/** Throws on the first line that is not an assignment, a comment or blank, skipping the inside of quoted values that span lines. */
function checkLines(path: string, text: string): void {
  let openQuote: string | undefined;
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (openQuote) {
      if (line.includes(openQuote)) openQuote = undefined;
      continue;
    }
    if (/^\s*(#.*)?$/.test(line)) continue;
    const value = assignment.exec(line)?.[1]?.trim();
    if (value === undefined) throw new ConfigError(`${path}:${index + 1}: expected NAME=value, a # comment or a blank line`);
    const quote = value[0];
    if ((quote === '"' || quote === "'" || quote === "`") && !value.slice(1).includes(quote)) openQuote = quote;
  }
}
