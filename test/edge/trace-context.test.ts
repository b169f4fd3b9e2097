import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";

const listDeploymentsPath = "/launchpad.deployment.v1.DeploymentService/ListDeployments";

let stack: TestEdgeStack;
beforeAll(async () => {
  stack = await startTestEdgeStack();
});
afterAll(() => stack.stop());

/** The JSON lines of `logs` with this request id and message. */
const linesOf = (logs: string[], requestId: string, msg: string) =>
  logs.map((line) => JSON.parse(line)).filter((line) => line.requestId === requestId && line.msg === msg);

/** A REST call to DeploymentService through the edge; the edge's access log line and the service's call log line for it. */
async function restCall(requestId: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.url}/v1/deployments`, { headers: { "x-request-id": requestId, ...headers } });
  await response.arrayBuffer();
  // The edge logs once its response has closed, which may come a turn after the client has read it.
  await new Promise((resolve) => setImmediate(resolve));
  const [edgeLine] = linesOf(stack.edgeLogs, requestId, "request");
  const [serviceLine] = linesOf(stack.deployments.logs, requestId, "call");
  return { edgeLine, serviceLine };
}

describe("W3C trace context through the edge", () => {
  it("a request without traceparent starts a trace at the edge, and the service's log line carries the same trace id", async () => {
    const { edgeLine, serviceLine } = await restCall("trace-started");
    expect(edgeLine.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(serviceLine).toMatchObject({ method: listDeploymentsPath, traceId: edgeLine.traceId });
  });

  it("a request with a valid traceparent continues its trace: the edge and the service log the client's trace id", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const { edgeLine, serviceLine } = await restCall("trace-continued", { traceparent: `00-${traceId}-00f067aa0ba902b7-01` });
    expect(edgeLine.traceId).toBe(traceId);
    expect(serviceLine.traceId).toBe(traceId);
  });

  it.each([
    ["an all-zero trace id", "zero-trace", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["an all-zero parent id", "zero-parent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version ff", "version-ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["upper-case hex", "upper-case", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"],
  ])("a traceparent with %s is ignored: the edge starts a new trace, which the service continues", async (_what, requestId, traceparent) => {
    const { edgeLine, serviceLine } = await restCall(requestId, { traceparent });
    expect(edgeLine.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(edgeLine.traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(edgeLine.traceId).not.toMatch(/^0+$/);
    expect(serviceLine.traceId).toBe(edgeLine.traceId);
  });
});
