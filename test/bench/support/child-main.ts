import { serveProfilerRequests } from "./child-profiler.js";

/**
 * The child side of startPinnedChild: run `start`, report what it returns
 * to the parent as ready (or the error as failed), profile when asked, and
 * when the parent asks to stop or goes away, run the returned stop function
 * and exit with 0.
 */
export async function runAsChild<Ready>(start: () => Promise<{ ready: Ready; stop: () => Promise<void> }>): Promise<void> {
  if (!process.send) throw new Error("this script is a benchmark child: start it with startPinnedChild");
  let stopping = false;
  let stop: (() => Promise<void>) | undefined;
  const exit = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await stop?.();
    } finally {
      process.exit(0);
    }
  };
  process.on("message", (message: { type?: string }) => {
    if (message.type === "stop") void exit();
  });
  process.on("disconnect", () => void exit());
  serveProfilerRequests();
  process.on("SIGTERM", () => void exit());
  try {
    const started = await start();
    stop = started.stop;
    process.send({ type: "ready", ready: started.ready });
  } catch (error) {
    process.send({ type: "failed", error: error instanceof Error ? error.stack ?? error.message : String(error) });
    process.exit(1);
  }
}
