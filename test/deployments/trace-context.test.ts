import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metadata } from "nice-grpc";
import { createServiceAccountKey } from "../support/service-accounts.js";
import { admin } from "../support/users-service.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";

let stack: TestStack;
let agentKey: string;
let adminToken: string;

beforeAll(async () => {
  stack = await startTestStack();
  adminToken = await stack.users.login(admin.email, admin.password);
  agentKey = (await createServiceAccountKey(stack.users, adminToken, "trace-agent@ci.internal")).secret;
});
afterAll(() => stack.stop());

/** The "call" log lines of `logs` for `method` in trace `traceId`. */
const callsIn = (logs: string[], traceId: string, method: string) =>
  logs.map((line) => JSON.parse(line)).filter((line) => line.msg === "call" && line.traceId === traceId && line.method === method);

describe("trace context from the deployments service to the users service", () => {
  it("an API key checked with AuthenticateApiKey joins the caller's trace: the users service logs the same trace id", async () => {
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const metadata = Metadata({ authorization: `Bearer ${agentKey}`, traceparent: `00-${traceId}-b7ad6b7169203331-01` });
    await stack.deployments.client.listDeployments({}, { metadata });

    const [deploymentsCall] = callsIn(stack.deployments.logs, traceId, "/launchpad.deployment.v1.DeploymentService/ListDeployments");
    const [usersCall] = callsIn(stack.users.logs, traceId, "/launchpad.user.v1.UserService/AuthenticateApiKey");
    expect(deploymentsCall).toBeDefined();
    expect(usersCall).toMatchObject({ code: "OK" });
    // Each hop is its own span of the one trace.
    expect(usersCall.spanId).not.toBe(deploymentsCall.spanId);
  });

  it("a call without traceparent starts a trace in the deployments service, which its users call continues", async () => {
    const requestId = "trace-started-in-deployments";
    // A fresh key: the first one is remembered, so its check would not reach the users service again.
    const key = (await createServiceAccountKey(stack.users, adminToken, "trace-agent-2@ci.internal")).secret;
    await stack.deployments.client.listDeployments({}, { metadata: Metadata({ authorization: `Bearer ${key}`, "x-request-id": requestId }) });

    const deploymentsCall = stack.deployments.logs.map((line) => JSON.parse(line)).find((line) => line.msg === "call" && line.requestId === requestId);
    expect(deploymentsCall?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(callsIn(stack.users.logs, deploymentsCall.traceId, "/launchpad.user.v1.UserService/AuthenticateApiKey")).toHaveLength(1);
  });
});
