import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

const children = new Set<ChildProcess>();
const directories = new Set<string>();
let installed = false;

/**
 * Remembers a child process so that it is killed if the benchmark ends
 * early: on an error, on exit, on Ctrl-C or SIGTERM. Forgotten once it exits.
 */
export function trackChild(child: ChildProcess): void {
  installCleanup();
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** Remembers a scratch directory to remove if the benchmark ends early. */
export function trackDirectory(path: string): void {
  installCleanup();
  directories.add(path);
}

/** Forgets a scratch directory the caller has removed. */
export function untrackDirectory(path: string): void {
  directories.delete(path);
}

/** Kills every tracked child still running (SIGKILL: no grace, nothing left behind) and removes tracked directories. */
export function cleanUpNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const path of directories) rmSync(path, { recursive: true, force: true });
  directories.clear();
}

function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.once("exit", cleanUpNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      cleanUpNow();
      process.stderr.write(`\nbench: interrupted (${signal}); child processes killed\n`);
      process.exit(130);
    });
  }
}
