import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { http1Request } from "../support/raw-http.js";

const maxBodyBytes = 16 * 1024;
const healthCheckPath = "/grpc.health.v1.Health/Check";
/** Five chunks of 8 KiB sent without a declared length: 40 KiB, over the limit from the third. */
const chunks = Array.from({ length: 5 }, () => Buffer.alloc(8 * 1024, 1));

let stack: TestEdgeStack;
beforeAll(async () => {
  stack = await startTestEdgeStack({ edge: { LAUNCHPAD_EDGE_MAX_BODY: String(maxBodyBytes) } });
});
afterAll(() => stack.stop());

const port = () => Number(new URL(stack.url).port);

describe("a body without a declared length, over the limit, on the calls the edge answers itself (connect-node)", () => {
  it("Connect unary over HTTP/1.1 (chunked): resource_exhausted with the reason REQUEST_TOO_LARGE", async () => {
    const response = await http1Request(port(), { method: "POST", path: healthCheckPath, headers: { "content-type": "application/proto" }, chunks });
    const error = JSON.parse(response.body.toString("utf8"));
    expect(error.code).toBe("resource_exhausted");
    expect(error.details?.map((detail: { debug?: { reason?: string } }) => detail.debug?.reason)).toEqual(["REQUEST_TOO_LARGE"]);
  });

  it("a body within the limit is served: health Check answers SERVING", async () => {
    const response = await http1Request(port(), { method: "POST", path: healthCheckPath, headers: { "content-type": "application/json" }, chunks: [Buffer.from("{}")] });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString("utf8"))).toEqual({ status: "SERVING" });
  });
});
