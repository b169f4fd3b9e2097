import { Code } from "@connectrpc/connect";
import { encodeEnvelopes } from "@connectrpc/connect/protocol";
import { endStreamFlag, endStreamFromJson } from "@connectrpc/connect/protocol-connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { http1Request } from "../support/raw-http.js";

const watchPath = "/launchpad.deployment.v1.DeploymentService/WatchDeployments";

/** The error a Connect stream answered before any message: its only envelope is the end-stream message. */
async function streamErrorOf(stack: TestEdgeStack, contentType: string, body: Buffer) {
  const response = await http1Request(Number(new URL(stack.url).port), {
    method: "POST",
    path: watchPath,
    headers: { "content-type": contentType },
    body,
  });
  expect(response.status).toBe(200);
  expect(response.body[0]).toBe(endStreamFlag);
  const { error } = endStreamFromJson(response.body.subarray(5));
  return { code: error?.code, reasons: error?.findDetails(ErrorInfoSchema).map((info) => info.reason) };
}

const message = (text: string) => ({ flags: 0, data: Buffer.from(text) });

describe("Connect server-streaming calls on the edge's lean path", () => {
  let stack: TestEdgeStack;
  beforeAll(async () => {
    stack = await startTestEdgeStack();
  });
  afterAll(async () => {
    await stack.stop();
  });

  it("refuses a body of two messages, or none, as INVALID_ARGUMENT MALFORMED_REQUEST before calling the service", async () => {
    for (const body of [Buffer.from(encodeEnvelopes(message("{}"), message("{}"))), Buffer.alloc(0)]) {
      expect(await streamErrorOf(stack, "application/connect+json", body)).toEqual({ code: Code.InvalidArgument, reasons: ["MALFORMED_REQUEST"] });
    }
  });

  it("reads JSON as connect-node does, unknown fields ignored: the call reaches the service, which asks for credentials", async () => {
    const body = Buffer.from(encodeEnvelopes(message('{"someFieldFromANewerClient": 1}')));
    expect(await streamErrorOf(stack, "application/connect+json", body)).toEqual({ code: Code.Unauthenticated, reasons: expect.any(Array) });
  });
});
