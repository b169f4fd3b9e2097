/**
 * Group commit: jobs submitted while a group is being written wait and are
 * written together as the next group (at most `maxGroup` of them), in the
 * order they arrived. Before each group is taken, `gather` may wait for more
 * jobs to arrive. `writeGroup` settles each job of its group on its own, so
 * one refused job fails only its own caller.
 */
export function createGroupCommit<Job, Result>(
  writeGroup: (jobs: Job[]) => Promise<PromiseSettledResult<Result>[]>,
  maxGroup: number,
  gather: () => Promise<void> = async () => undefined,
): (job: Job) => Promise<Result> {
  const waiting: { job: Job; resolve(result: Result): void; reject(error: unknown): void }[] = [];
  let writing = false;

  async function drain(): Promise<void> {
    try {
      while (waiting.length > 0) {
        // A wait that fails only makes the group smaller.
        await gather().catch(() => undefined);
        const group = waiting.splice(0, maxGroup);
        const outcomes = await writeGroup(group.map((entry) => entry.job)).catch((error: unknown) =>
          group.map((): PromiseRejectedResult => ({ status: "rejected", reason: error })),
        );
        group.forEach((entry, i) => {
          const outcome = outcomes[i];
          if (outcome?.status === "fulfilled") entry.resolve(outcome.value);
          else entry.reject(outcome?.reason ?? new Error("the group write settled fewer jobs than it took"));
        });
      }
    } finally {
      // Set in the same turn the loop finds no job, so a job queued meanwhile starts a new drain.
      writing = false;
    }
  }

  return (job) =>
    new Promise<Result>((resolve, reject) => {
      waiting.push({ job, resolve, reject });
      if (writing) return;
      writing = true;
      queueMicrotask(() => void drain());
    });
}
