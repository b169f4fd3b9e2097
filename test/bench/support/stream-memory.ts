import type { MemoryReading } from "./child-memory.js";

/** A process's memory with no streams, with every stream open, and after the changes; per stream against idle. */
export interface StreamMemory {
  idle: MemoryReading;
  loaded: MemoryReading;
  afterChanges: MemoryReading;
  rssPerStreamBytes: number;
  heapPerStreamBytes: number;
  rssPerStreamAfterChangesBytes: number;
  heapPerStreamAfterChangesBytes: number;
}

/** What `streams` open streams cost a process, from its readings with none, with them open, and after the changes. */
export function streamMemory(streams: number, idle: MemoryReading, loaded: MemoryReading, afterChanges: MemoryReading): StreamMemory {
  return {
    idle,
    loaded,
    afterChanges,
    rssPerStreamBytes: (loaded.rss - idle.rss) / streams,
    heapPerStreamBytes: (loaded.heapUsed - idle.heapUsed) / streams,
    rssPerStreamAfterChangesBytes: (afterChanges.rss - idle.rss) / streams,
    heapPerStreamAfterChangesBytes: (afterChanges.heapUsed - idle.heapUsed) / streams,
  };
}
