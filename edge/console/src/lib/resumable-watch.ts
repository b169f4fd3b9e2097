/** Where a live watch stands, for the console to show; "stopped" after an error no retry can fix. */
export type WatchStatus = "connecting" | "live" | "reconnecting" | "stopped";

/** A watch stream's message: each carries the revision it brings the client up to. */
export interface RevisionMessage {
  revision: bigint;
}

/** How to run one resumable watch; the callbacks are the watch's only output. */
export interface ResumableWatchOptions<M extends RevisionMessage> {
  /** Opens the stream after `resumeRevision` (0: start with a snapshot). */
  open(resumeRevision: bigint, signal: AbortSignal): AsyncIterable<M>;
  onMessage(message: M): void;
  onStatus(status: WatchStatus): void;
  /** The server no longer has the history to resume from: the next message is a fresh snapshot, so drop what was shown. */
  onReset(): void;
  /** Whether an error says the resume revision is too old (RESUME_REVISION_EXPIRED). */
  isExpired(error: unknown): boolean;
  /** Whether an error would come back on every retry (not found, not allowed): the watch stops with it. */
  isPermanent?(error: unknown): boolean;
  /** Called with the error that stopped the watch. */
  onStopped?(error: unknown): void;
  /** Ends the watch. */
  signal: AbortSignal;
  /** Reconnect after a stream is this quiet; the server sends heartbeats well within it. */
  idleTimeoutMs?: number;
  /** Wait before reconnect attempt `attempt` (1, 2, ...). */
  backoff?: (attempt: number) => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Exponential backoff from 250 ms to 10 s, with jitter so many consoles do not return at once. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(10_000, 250 * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const quiet = new Error("the watch stream went quiet");

/**
 * Runs a watch until `signal` aborts: the first stream starts with a
 * snapshot; after any failure (an error, the stream ending, or silence
 * longer than `idleTimeoutMs`) it reconnects with backoff and resumes after
 * the last revision it saw, so nothing is missed or doubled. Status goes
 * connecting → live, and reconnecting → live after each drop; a permanent
 * error stops the watch.
 */
export async function runResumableWatch<M extends RevisionMessage>(options: ResumableWatchOptions<M>): Promise<void> {
  const { signal, idleTimeoutMs = 45_000 } = options;
  const backoff = options.backoff ?? reconnectDelay;
  const sleep = options.sleep ?? abortableSleep;
  let revision = 0n;
  let attempt = 0;
  options.onStatus("connecting");
  while (!signal.aborted) {
    const attemptController = new AbortController();
    const stop = () => attemptController.abort(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => attemptController.abort(quiet), idleTimeoutMs);
    };
    let live = false;
    try {
      resetIdle();
      for await (const message of options.open(revision, attemptController.signal)) {
        resetIdle();
        if (!live) {
          live = true;
          attempt = 0;
          options.onStatus("live");
        }
        if (message.revision > revision) revision = message.revision;
        options.onMessage(message);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (options.isExpired(error)) {
        revision = 0n;
        options.onReset();
      } else if (options.isPermanent?.(error)) {
        options.onStatus("stopped");
        options.onStopped?.(error);
        return;
      }
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) return;
    attempt += 1;
    options.onStatus("reconnecting");
    await sleep(backoff(attempt), signal);
  }
}
