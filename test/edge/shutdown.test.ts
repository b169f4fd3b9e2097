import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";

let stack: TestEdgeStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

describe("edge shutdown", () => {
  it("ends an open health Watch with UNAVAILABLE as it begins, instead of holding it until the watcher leaves", async () => {
    stack = await startTestEdgeStack();
    const client = createClient(Health, createGrpcTransport({ baseUrl: stack.url }));
    const stream = client.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.status).toBe(ServingStatus.SERVING);
    const next = stream.next();

    const stopping = stack.stop();
    stack = undefined;
    await expect(next).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "the edge is shutting down" });
    await stopping;
  });
});
