import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { ProfilerReply } from "./child-profiler.js";
import { trackChild } from "./cleanup.js";

/** A Node child process pinned to one CPU that has announced it is ready. */
export interface PinnedChild<Ready> {
  pid: number;
  /** What the child sent with its ready message (see announceReady). */
  ready: Ready;
  /** Runs `during` with the child's CPU profiler on, and writes the profile (.cpuprofile) to `file`. */
  profile<T>(file: string, during: () => Promise<T>): Promise<T>;
  /**
   * Sends `message` over IPC and resolves with the child's first reply of
   * type `replyType`; a reply of type "request-failed" (with `error`) rejects.
   * One request at a time per child.
   */
  request<Reply extends { type: string }>(message: object, replyType: Reply["type"], timeoutMs?: number): Promise<Reply>;
  /** Asks the child to stop and exit cleanly; kills it after 15 s. */
  stop(): Promise<void>;
}

/** How to start a pinned child. */
export interface PinnedChildOptions {
  /** A name for error messages. */
  name: string;
  /** The TypeScript entry point, run with `node --import tsx`. */
  script: string;
  /** The CPU to pin the process (and all its threads) to, with taskset. */
  cpu: number;
  env?: Readonly<Record<string, string>>;
  /** How long start-up may take; default 60 s. */
  readyTimeoutMs?: number;
}

/**
 * Starts `taskset -c <cpu> node --import tsx <script>` with stdout to
 * /dev/null, stderr passed through and an IPC channel, and waits for the
 * child's ready message. Rejects (and kills the child) if it exits or stays
 * silent first.
 */
export async function startPinnedChild<Ready>(options: PinnedChildOptions): Promise<PinnedChild<Ready>> {
  const args = ["-c", String(options.cpu), process.execPath, "--import", "tsx", options.script];
  const child = spawn("taskset", args, {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: { ...process.env, ...options.env },
  });
  trackChild(child);
  try {
    const ready = await waitForReady<Ready>(child, options.name, options.readyTimeoutMs ?? 60_000);
    return {
      pid: child.pid!,
      ready,
      profile: (file, during) => profileChild(child, options.name, file, during),
      request: (message, replyType, timeoutMs) => requestReply(child, options.name, message, replyType, timeoutMs ?? 600_000),
      stop: () => stopChild(child),
    };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

function waitForReady<Ready>(child: ChildProcess, name: string, timeoutMs: number): Promise<Ready> {
  return new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${name}: not ready after ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: unknown) => {
      const m = message as { type?: string; ready?: Ready; error?: string };
      if (m.type === "ready") finish(undefined, m.ready);
      else if (m.type === "failed") finish(new Error(`${name} failed to start: ${m.error}`));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
    const onError = (error: Error) => finish(new Error(`${name} could not be started: ${error.message}`));
    function finish(error?: Error, ready?: Ready) {
      clearTimeout(timer);
      child.off("message", onMessage).off("exit", onExit).off("error", onError);
      if (error) reject(error);
      else resolve(ready!);
    }
    child.on("message", onMessage).on("exit", onExit).on("error", onError);
  });
}

async function profileChild<T>(child: ChildProcess, name: string, file: string, during: () => Promise<T>): Promise<T> {
  await ask(child, name, { type: "profile-start" }, "profile-started");
  try {
    return await during();
  } finally {
    await ask(child, name, { type: "profile-stop", file }, "profile-stopped");
  }
}

/** Sends a message to the child and waits for the reply of the given type. */
function ask(child: ChildProcess, name: string, message: object, replyType: ProfilerReply["type"]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onMessage = (reply: ProfilerReply) => {
      if (reply.type === replyType) done();
      else if (reply.type === "profile-failed") done(new Error(`${name}: profiling failed: ${reply.error}`));
    };
    const onExit = () => done(new Error(`${name} exited while profiling`));
    function done(error?: Error) {
      child.off("message", onMessage).off("exit", onExit);
      if (error) reject(error);
      else resolve();
    }
    child.on("message", onMessage).on("exit", onExit);
    child.send(message);
  });
}

function requestReply<Reply extends { type: string }>(
  child: ChildProcess,
  name: string,
  message: object,
  replyType: string,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${name}: no "${replyType}" reply within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (reply: { type?: string; error?: string }) => {
      if (reply.type === replyType) done(undefined, reply as Reply);
      else if (reply.type === "request-failed") done(new Error(`${name}: ${reply.error}`));
    };
    const onExit = () => done(new Error(`${name} exited while handling a request`));
    function done(error?: Error, reply?: Reply) {
      clearTimeout(timer);
      child.off("message", onMessage).off("exit", onExit);
      if (error) reject(error);
      else resolve(reply!);
    }
    child.on("message", onMessage).on("exit", onExit);
    child.send(message);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  if (child.connected) child.send({ type: "stop" });
  else child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
