import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../services/kit/logger.js";

/** A part's real logger whose JSON lines are kept in memory for assertions. */
export function capturedLogger(part: string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger(part, "info", sink), lines };
}
