import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHttp, listenHttp } from "../../services/kit/lifecycle.js";
import { createMetricsServer } from "../../services/kit/metrics-server.js";

describe("createMetricsServer", () => {
  const registry = new Registry();
  const server = createMetricsServer(registry);
  let base: string;

  beforeAll(async () => {
    new Counter({ name: "launchpad_test_total", help: "A test counter.", registers: [registry] }).inc(3);
    base = `http://127.0.0.1:${await listenHttp(server, "127.0.0.1", 0)}`;
  });

  afterAll(() => closeHttp(server));

  it("serves the registry in the Prometheus text format at GET /metrics", async () => {
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(registry.contentType);
    expect(await response.text()).toContain("launchpad_test_total 3");
  });

  it("ignores the query string", async () => {
    expect((await fetch(`${base}/metrics?x=1`)).status).toBe(200);
  });

  it("answers 404 for other paths and methods", async () => {
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(404);
  });
});
