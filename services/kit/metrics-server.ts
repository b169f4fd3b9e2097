import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/**
 * An HTTP server for Prometheus: GET /metrics returns the registry in the
 * text exposition format. Unstarted; the caller listens.
 */
export function createMetricsServer(registry: Registry): Server {
  return createServer(async (req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType }).end(body);
    } catch {
      res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n");
    }
  });
}
