import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";

/**
 * Makes `dir` (and missing parents) a directory only its owner can enter
 * (0700), tightening an existing one that is open to others. A shared
 * directory (sticky bit, like /tmp) is refused rather than closed to everyone.
 */
export function ensurePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (statSync(dir).mode & 0o1000) {
    throw new Error(`${dir} is a shared directory (sticky bit); give Launchpad a data directory of its own`);
  }
  tighten(dir, 0o700);
}

/** Creates `file` empty and owner-only (0600) unless it exists; tightens it when it is open to others. */
export function ensurePrivateFile(file: string): void {
  // "a" creates with the given mode but never truncates or re-modes an existing file.
  closeSync(openSync(file, "a", 0o600));
  tighten(file, 0o600);
}

/** Makes an existing `file` owner-only (0600) when it is open to others; throws ENOENT when it is missing. */
export function tightenPrivateFile(file: string): void {
  tighten(file, 0o600);
}

function tighten(path: string, mode: number): void {
  const current = statSync(path).mode & 0o777;
  if ((current & 0o077) === 0) return;
  chmodSync(path, mode);
  // No logger reaches this deep; a process warning still lands on stderr.
  process.emitWarning(`${path} was mode ${current.toString(8)}, open to other users; made it ${mode.toString(8)}`, "SecurityWarning");
}
