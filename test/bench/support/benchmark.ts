/** Settings every benchmark runs with; set by flags of run.ts. */
export interface BenchSettings {
  /** Measured rounds per server, interleaved between servers. */
  rounds: number;
  /** Target length of one measured round. */
  roundSeconds: number;
  /** h2load connections (-c) and streams per connection (-m). */
  clients: number;
  streams: number;
  /** After the rounds, profile the server under test for one more round and list its top self-time functions. */
  profile: boolean;
  /** Where results (JSON, profiles) go: test-output/bench. */
  outputDir: string;
}

/** One benchmark: run.ts runs each in turn, prints format(result) and writes result as <name>.json. */
export interface Benchmark<Result> {
  name: string;
  run(settings: BenchSettings): Promise<Result>;
  format(result: Result): string;
}
