import { describe, expect, it } from "vitest";
import { loadEdgeConfig } from "../../edge/config.js";
import { ConfigError } from "../../services/kit/config.js";

const load = (env: Record<string, string>) => loadEdgeConfig({ env, argv: [] });

describe("edge upstream keepalive settings", () => {
  it("default to a PING every 30 s, answered within 10 s", () => {
    const config = load({});
    expect(config.upstreamKeepalive).toBe(30_000);
    expect(config.upstreamKeepaliveTimeout).toBe(10_000);
  });

  it("take durations at or above their floors", () => {
    const config = load({ LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE: "10s", LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE_TIMEOUT: "1s" });
    expect(config.upstreamKeepalive).toBe(10_000);
    expect(config.upstreamKeepaliveTimeout).toBe(1_000);
  });

  it("refuse a keepalive under 10 s, which the services would answer with GOAWAY", () => {
    expect(() => load({ LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE: "9s" })).toThrow(ConfigError);
    expect(() => load({ LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE: "9999ms" })).toThrow(/LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE .*expected at least 10s, got "9999ms"/);
  });

  it("refuse a keepalive timeout under 1 s", () => {
    expect(() => load({ LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE_TIMEOUT: "500ms" })).toThrow(/LAUNCHPAD_EDGE_UPSTREAM_KEEPALIVE_TIMEOUT .*expected at least 1s, got "500ms"/);
  });
});
