import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";

/** The messages a benchmark child understands for profiling, and its replies. */
export type ProfilerRequest = { type: "profile-start" } | { type: "profile-stop"; file: string };
export type ProfilerReply = { type: "profile-started" } | { type: "profile-stopped" } | { type: "profile-failed"; error: string };

const samplingIntervalMicros = 200;

/**
 * Inside a benchmark child: starts and stops the V8 CPU profiler when the
 * parent asks, writing a .cpuprofile file. Unlike --cpu-prof, this profiles
 * only the load, not module loading and start-up.
 */
export function serveProfilerRequests(): void {
  const session = new Session();
  session.connect();
  process.on("message", async (message: ProfilerRequest) => {
    try {
      if (message.type === "profile-start") {
        await session.post("Profiler.enable");
        await session.post("Profiler.setSamplingInterval", { interval: samplingIntervalMicros });
        await session.post("Profiler.start");
        reply({ type: "profile-started" });
      } else if (message.type === "profile-stop") {
        const { profile } = await session.post("Profiler.stop");
        await writeFile(message.file, JSON.stringify(profile));
        reply({ type: "profile-stopped" });
      }
    } catch (error) {
      reply({ type: "profile-failed", error: error instanceof Error ? error.message : String(error) });
    }
  });
}

function reply(message: ProfilerReply): void {
  process.send?.(message);
}
