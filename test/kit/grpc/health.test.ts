import { createClient, createServer, Status, type Client } from "nice-grpc";
import { HealthDefinition, HealthState } from "nice-grpc-server-health";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addHealth } from "../../../services/kit/grpc/health.js";
import { callError, serve, type Served } from "../../support/grpc.js";

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
const SERVING = 1;
const NOT_SERVING = 2;

describe("addHealth", () => {
  const health = HealthState();
  const stopping = new AbortController();
  let served: Served;
  let client: Client<typeof HealthDefinition>;

  beforeAll(async () => {
    const server = createServer();
    addHealth(server, health, stopping.signal, []);
    served = await serve(server);
    client = createClient(HealthDefinition, served.channel);
  });

  afterAll(() => served?.close());

  it("answers Check with the server's status", async () => {
    expect((await client.check({ service: "" })).status).toBe(SERVING);
  });

  it("answers Check for an unknown service with NOT_FOUND", async () => {
    expect((await callError(client.check({ service: "no.such.Service" }))).code).toBe(Status.NOT_FOUND);
  });

  it("streams status changes to Watch, and ends open watches with UNAVAILABLE once stopping", async () => {
    const watch = client.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.status).toBe(SERVING);
    health.setStatus("unhealthy");
    expect((await watch.next()).value?.status).toBe(NOT_SERVING);
    stopping.abort();
    const error = await callError(watch.next());
    expect(error.code).toBe(Status.UNAVAILABLE);
  });
});
