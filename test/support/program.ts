import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository root, where `bin/launchpad.ts` lives. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** How a child process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A `launchpad` child process, with everything it wrote so far. */
export interface ProgramRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited (never rejects). */
  exited: Promise<Exit>;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first or after `timeoutMs`. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit; rejects after `timeoutMs` (an upper bound against hangs, not a timing check). */
  waitForExit(timeoutMs?: number): Promise<Exit>;
}

const children = new Set<ChildProcess>();

/**
 * Runs `node --import tsx bin/launchpad.ts ...args` from the repository root,
 * as users run the program (no build needed), or with `built`, the program
 * `npm run build` made: `node dist/bin/launchpad.js ...args`. The child sees
 * this process's environment without any LAUNCHPAD_ variable, plus `env`.
 * `cwd` runs it from another working directory (where it reads `.env`).
 */
export function runLaunchpad(
  args: readonly string[],
  env: Record<string, string> = {},
  options: { built?: boolean; cwd?: string } = {},
): ProgramRun {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("LAUNCHPAD_")));
  // Absolute paths, as the working directory may be elsewhere.
  const tsx = pathToFileURL(join(repoRoot, "node_modules/tsx/dist/loader.mjs")).href;
  const program = options.built ? [join(repoRoot, "dist/bin/launchpad.js")] : ["--import", tsx, join(repoRoot, "bin/launchpad.ts")];
  const child = spawn(process.execPath, [...program, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...inherited, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => {
    child.on("close", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });

  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStdout(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (!match) return false;
          done();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} on stdout within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
        }, timeoutMs);
        const onExit = ({ code, signal }: Exit) => {
          if (check()) return;
          done();
          reject(new Error(`launchpad exited (${code ?? signal}) before ${pattern}; stdout:\n${stdout}\nstderr:\n${stderr}`));
        };
        const done = () => {
          clearTimeout(timer);
          child.stdout!.off("data", check);
        };
        if (check()) return;
        child.stdout!.on("data", check);
        void exited.then(onExit);
      });
    },
    async waitForExit(timeoutMs = 20_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`launchpad did not exit within ${timeoutMs} ms; stderr:\n${stderr}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A started program: its run and the ports it printed. */
export interface StartedProgram extends ProgramRun {
  usersPort: number;
  metricsPort: number;
}

/** Runs the program and waits until it prints that it is running, then reads its ports from that banner. */
export async function startLaunchpad(args: readonly string[], env: Record<string, string>): Promise<StartedProgram> {
  const run = runLaunchpad(args, env);
  await run.waitForStdout(/Launchpad is running[\s\S]*Sign in:[\s\S]*\/Login\n/);
  const usersPort = Number(/users\s+gRPC\s+[\w.:[\]-]+:(\d+)\s/.exec(run.stdout())![1]);
  const metricsPort = Number(/users\s+gRPC.*metrics http:\/\/[\w.:[\]-]+:(\d+)\/metrics/.exec(run.stdout())![1]);
  return Object.assign(run, { usersPort, metricsPort });
}

/** Kills (SIGKILL) every launchpad child still running and waits for each to exit. */
export async function killLaunchpads(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await once(child, "close").catch(() => undefined);
    }),
  );
}
