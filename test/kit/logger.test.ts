import { describe, expect, it, vi } from "vitest";
import { captureLogs } from "../support/grpc.js";

const secretKeys = ["password", "currentPassword", "newPassword", "secret", "apiKey", "accessToken", "refreshToken", "authorization", "token", "privateJwk"];

describe("createLogger", () => {
  it("writes one JSON line with the level as a word, the part and an ISO time", () => {
    const logs = captureLogs();
    logs.logger.info({ user: "users/a" }, "hello");
    expect(logs.lines).toHaveLength(1);
    expect(logs.lines[0]).toMatchObject({ level: "info", part: "test", user: "users/a", msg: "hello" });
    expect(new Date(logs.lines[0]!.time).toISOString()).toBe(logs.lines[0]!.time);
  });

  it("stamps each line with the millisecond it was written in, when many lines share one and after it moves on", () => {
    const logs = captureLogs();
    const start = Date.parse("2026-03-01T10:00:00.000Z");
    vi.useFakeTimers({ now: start, toFake: ["Date"] });
    try {
      logs.logger.info("one");
      logs.logger.info("two");
      vi.setSystemTime(start + 1);
      logs.logger.info("three");
      vi.setSystemTime(start + 60_000);
      logs.logger.info("four");
    } finally {
      vi.useRealTimers();
    }
    expect(logs.lines.map((line) => line.time)).toEqual([
      "2026-03-01T10:00:00.000Z",
      "2026-03-01T10:00:00.000Z",
      "2026-03-01T10:00:00.001Z",
      "2026-03-01T10:01:00.000Z",
    ]);
  });

  it("drops lines below its level", () => {
    const logs = captureLogs("warn");
    logs.logger.info("quiet");
    logs.logger.warn("loud");
    expect(logs.lines.map((l) => l.msg)).toEqual(["loud"]);
  });

  it.each(secretKeys)("redacts %s at the top level and one and two objects deep", (key) => {
    const logs = captureLogs();
    logs.logger.info({ [key]: "s3cret-top", call: { [key]: "s3cret-one", request: { [key]: "s3cret-two" } } }, "secrets");
    const line = logs.lines[0]!;
    expect(line[key]).toBe("[redacted]");
    expect(line.call[key]).toBe("[redacted]");
    expect(line.call.request[key]).toBe("[redacted]");
    expect(logs.text()).not.toContain("s3cret");
  });

  it("redacts secrets nested in a mix of keys and keeps everything else", () => {
    const logs = captureLogs();
    logs.logger.info(
      {
        password: "p-1",
        user: { email: "a@example.com", apiKey: "lpk_abc" },
        metadata: { authorization: "Bearer eyJ...", grant: { refreshToken: "r-1", accessToken: "a-1" } },
      },
      "mixed",
    );
    expect(logs.lines[0]).toMatchObject({
      password: "[redacted]",
      user: { email: "a@example.com", apiKey: "[redacted]" },
      metadata: { authorization: "[redacted]", grant: { refreshToken: "[redacted]", accessToken: "[redacted]" } },
    });
  });

  it("redacts in child loggers too", () => {
    const logs = captureLogs();
    logs.logger.child({ requestId: "r-1" }).warn({ request: { password: "p-1" } }, "child");
    expect(logs.lines[0]).toMatchObject({ requestId: "r-1", request: { password: "[redacted]" } });
  });

  it("redacts secrets bound to a child logger", () => {
    const logs = captureLogs();
    logs.logger.child({ requestId: "r-2", authorization: "Bearer t-2" }).info("bound");
    expect(logs.lines[0]).toMatchObject({ requestId: "r-2", authorization: "[redacted]" });
    expect(JSON.stringify(logs.lines[0])).not.toContain("t-2");
  });
});
