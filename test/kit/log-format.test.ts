import { describe, expect, it } from "vitest";
import { isReadable, logDestination, type LogFormat, type LogOutput } from "../../services/kit/log-format.js";
import { createLogger } from "../../services/kit/logger.js";

/** A stand-in for stdout, a terminal or not, keeping what is written. */
function output(isTTY: boolean): LogOutput & { text: string } {
  const out = { isTTY, text: "", write: (chunk: string) => void (out.text += chunk) };
  return out;
}

describe("log format", () => {
  it.each([
    ["auto", true, true],
    ["auto", false, false],
    ["pretty", false, true],
    ["pretty", true, true],
    ["json", true, false],
    ["json", false, false],
  ] as [LogFormat, boolean, boolean][])("%s with a terminal: %s gives readable lines: %s", (format, isTTY, readable) => {
    expect(isReadable(format, output(isTTY))).toBe(readable);
  });

  it("leaves JSON to pino's own stdout writer", () => {
    expect(logDestination("json", output(true))).toBeUndefined();
    expect(logDestination("auto", output(false))).toBeUndefined();
  });

  it("writes one readable line per call: time, level, part and message, then the other fields", () => {
    const out = output(true);
    const logger = createLogger("users", "info", logDestination("auto", out, false));
    logger.info({ method: "/launchpad.user.v1.UserService/GetUser", code: "OK" }, "call");
    logger.warn("slow");
    const lines = out.text.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: users \| call \{"method":"\/launchpad\.user\.v1\.UserService\/GetUser","code":"OK"\}$/);
    expect(lines[1]).toMatch(/^\[[\d:.]+\] WARN: users \| slow$/);
  });

  it("colours the level when asked", () => {
    const out = output(true);
    createLogger("edge", "info", logDestination("pretty", out, true)).error("failed");
    expect(out.text).toContain("\u001b[31mERROR\u001b[39m");
  });

  it("censors secrets in readable lines too, at the top level and nested", () => {
    const out = output(true);
    const logger = createLogger("users", "info", logDestination("pretty", out, false));
    logger.child({ requestId: "r-1" }).info({ password: "s3cret-top", request: { apiKey: "s3cret-nested" } }, "sign-in");
    expect(out.text).toContain('"password":"[redacted]"');
    expect(out.text).toContain('"apiKey":"[redacted]"');
    expect(out.text).not.toContain("s3cret");
  });

  it("keeps the level threshold", () => {
    const out = output(true);
    const logger = createLogger("users", "warn", logDestination("pretty", out, false));
    logger.info("quiet");
    logger.warn("loud");
    expect(out.text).not.toContain("quiet");
    expect(out.text).toContain("loud");
  });
});
