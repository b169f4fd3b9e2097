import { runAsChild } from "./child-main.js";
import { serveRequests } from "./child-requests.js";

/** Waits until every open stream has the change at `revision` (or the timeout passes) and reports delivery latencies. */
export interface CollectRequest {
  type: "collect";
  /** The change's revision, as a decimal string. */
  revision: string;
  /** process.hrtime.bigint() in the parent right before it committed the change, as a decimal string. */
  t0: string;
  timeoutMs: number;
}

/** Notes this process's CPU time, from which the next collect counts. */
export interface MarkRequest {
  type: "mark";
}

export interface MarkedReply {
  type: "marked";
}

/** Cancels every stream and closes every connection. */
export interface CloseRequest {
  type: "close";
}

export interface ClosedReply {
  type: "closed";
}

/** What a watch client child does on the parent's requests; `mark` is served for it. */
export interface WatchClientHandlers<Open, Opened extends { type: "opened" }, Collected extends { type: "collected" }> {
  /** Opens more streams. */
  open(message: Open): Promise<Opened>;
  /** Collects one change; `cpuSinceMark()` is this process's CPU time (user + system) since the last mark, in µs. */
  collect(message: CollectRequest, cpuSinceMark: () => number): Promise<Collected>;
  close(): Promise<ClosedReply>;
}

/**
 * Inside a watch fan-out client child: serves the parent's open, collect,
 * close and mark requests, and closes every stream when asked to stop.
 */
export async function serveWatchClient<Open, Opened extends { type: "opened" }, Collected extends { type: "collected" }>(
  handlers: WatchClientHandlers<Open, Opened, Collected>,
): Promise<void> {
  let markedCpu = 0;
  serveRequests({
    mark: async (): Promise<MarkedReply> => {
      markedCpu = cpuNow();
      return { type: "marked" };
    },
    open: (message: Open) => handlers.open(message),
    collect: (message: CollectRequest) => handlers.collect(message, () => cpuNow() - markedCpu),
    close: () => handlers.close(),
  });
  await runAsChild<Record<string, never>>(async () => ({ ready: {}, stop: async () => void (await handlers.close()) }));
}

function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
