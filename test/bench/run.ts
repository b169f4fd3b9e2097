/**
 * `npm run bench`: runs every benchmark in turn, prints its table and writes
 * its result to test-output/bench/<name>.json. It only reports; nothing
 * here fails on speed.
 *
 * Needs Linux, taskset and h2load (Debian: apt-get install nghttp2-client),
 * and Node 24 like the rest of the project (`source .ci/use-node` where the
 * system has another); each result records the Node version it ran on.
 * Flags: --rounds=N (5), --round-seconds=S (4), --clients=C (8),
 * --streams=M (8), --profile (also profile the server under test),
 * --only=name[,name] (run only these benchmarks).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Benchmark, BenchSettings } from "./support/benchmark.js";
import { cleanUpNow } from "./support/cleanup.js";
import { missingTools } from "./support/h2load.js";
import { createThroughput } from "./create-throughput.js";
import { edgeFanout } from "./edge-fanout.js";
import { edgePaths } from "./edge-paths.js";
import { usersGetUser } from "./users-getuser.js";
import { watchFanout } from "./watch-fanout.js";

const benchmarks: Benchmark<any>[] = [usersGetUser, watchFanout, createThroughput, edgePaths, edgeFanout];

function settingsFrom(argv: string[]): BenchSettings & { only: string[] } {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: "string", default: "5" },
      "round-seconds": { type: "string", default: "4" },
      clients: { type: "string", default: "8" },
      streams: { type: "string", default: "8" },
      profile: { type: "boolean", default: false },
      only: { type: "string", default: "" },
    },
  });
  const positive = (flag: string, raw: string) => {
    const n = Number(raw);
    if (!(n > 0)) throw new Error(`--${flag}: expected a positive number, got "${raw}"`);
    return n;
  };
  return {
    rounds: Math.round(positive("rounds", values.rounds)),
    roundSeconds: positive("round-seconds", values["round-seconds"]),
    clients: Math.round(positive("clients", values.clients)),
    streams: Math.round(positive("streams", values.streams)),
    profile: values.profile,
    outputDir: join("test-output", "bench"),
    only: values.only.split(",").filter((name) => name !== ""),
  };
}

async function main(): Promise<void> {
  const settings = settingsFrom(process.argv.slice(2));
  const missing = missingTools();
  if (missing.length > 0) {
    process.stderr.write(`bench: cannot run without ${missing.join(" and ")}\n`);
    process.exit(2);
  }
  const unknown = settings.only.filter((name) => !benchmarks.some((b) => b.name === name));
  if (unknown.length > 0) throw new Error(`--only: no benchmark named ${unknown.join(", ")} (have ${benchmarks.map((b) => b.name).join(", ")})`);
  await mkdir(settings.outputDir, { recursive: true });
  for (const benchmark of benchmarks) {
    if (settings.only.length > 0 && !settings.only.includes(benchmark.name)) continue;
    process.stderr.write(`bench: ${benchmark.name}\n`);
    const result = await benchmark.run(settings);
    const file = join(settings.outputDir, `${benchmark.name}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\n${benchmark.format(result)}\n  → ${file}\n`);
  }
}

main().catch((error) => {
  cleanUpNow();
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
