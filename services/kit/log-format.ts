import { createRequire } from "node:module";
import type { DestinationStream } from "pino";
import { settings } from "./config.js";

/** How log lines are written: JSON, readable lines, or readable on a terminal and JSON elsewhere. */
export const logFormatSetting = settings.oneOf(
  "LAUNCHPAD_LOG_FORMAT",
  ["auto", "json", "pretty"],
  "auto",
  "Log lines as JSON, as readable lines (pretty), or readable when stdout is a terminal (auto)",
);

/** A value of LAUNCHPAD_LOG_FORMAT. */
export type LogFormat = ReturnType<typeof logFormatSetting.parse>;

/** Where log lines go: stdout, or a stand-in for it in tests. */
export interface LogOutput {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** Whether `format` means readable lines on `output`: "pretty", or "auto" on a terminal. */
export function isReadable(format: LogFormat, output: LogOutput): boolean {
  return format === "pretty" || (format === "auto" && output.isTTY === true);
}

/**
 * The destination of the loggers of a program: undefined for JSON (pino's
 * own stdout writer, as in containers and CI), or a stream turning each
 * JSON line into a readable one (time, level, part, message, then the other
 * fields) within the same write, so lines keep their order and none is left
 * unwritten at exit. Secrets are censored before a line is serialised, so
 * the readable form never sees them.
 */
export function logDestination(format: LogFormat, output: LogOutput = process.stdout, colorize?: boolean): DestinationStream | undefined {
  if (!isReadable(format, output)) return undefined;
  // Loaded only here: importing pino-pretty costs a JSON-logging start about 150 ms.
  const { prettyFactory } = createRequire(import.meta.url)("pino-pretty") as typeof import("pino-pretty");
  // colorize left undefined follows the terminal and NO_COLOR / FORCE_COLOR.
  const prettify = prettyFactory({
    ...(colorize === undefined ? {} : { colorize }),
    translateTime: "SYS:HH:MM:ss.l",
    singleLine: true,
    ignore: "part",
    messageFormat: "{part} | {msg}",
  });
  return { write: (line) => void output.write(prettify(line)) };
}
