import { forever } from "abort-controller-x";
import { createServer, ServerError, Status } from "nice-grpc";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createMetricsMiddleware } from "../../../services/kit/middleware/metrics.js";
import { callError, serve, userDefinition, userClient, userHandlers, type Served } from "../../support/grpc.js";

const service = "launchpad.user.v1.UserService";

describe("metrics middleware", () => {
  const registry = new Registry();
  let served: Served;
  let client: ReturnType<typeof userClient>;
  let streamStarted: () => void;

  beforeAll(async () => {
    const server = createServer().use(createMetricsMiddleware(registry));
    server.add(
      userDefinition,
      // Stub handlers: GetUser answers for "users/a" and refuses everything else.
      // StreamUsers sends three users, or one and then waits for the client to leave.
      userHandlers({
        async getUser(request) {
          if (request.name === "users/a") return { user: { name: "users/a" } };
          if (request.name === "") throw new ServerError(Status.INVALID_ARGUMENT, "name is required");
          throw new ServerError(Status.NOT_FOUND, "no such user");
        },
        async *streamUsers(request, context) {
          yield { user: { name: "users/1" } };
          if (request.filter === "until-cancelled") {
            streamStarted();
            await forever(context.signal);
          }
          if (request.filter === "ignoring-cancellation") {
            streamStarted();
            await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
            return;
          }
          yield { user: { name: "users/2" } };
          yield { user: { name: "users/3" } };
        },
        async deleteUser() {
          throw new Error("boom");
        },
      }),
    );
    served = await serve(server);
    client = userClient(served.channel);
  });

  afterAll(() => served?.close());

  async function value(name: string, labels: Record<string, string>): Promise<number | undefined> {
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const matching = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return matching?.value;
  }

  it("counts a started and an OK-handled unary call with grpc_type, grpc_service and grpc_method labels", async () => {
    await client.getUser({ name: "users/a" });
    const labels = { grpc_type: "unary", grpc_service: service, grpc_method: "GetUser" };
    expect(await value("grpc_server_started_total", labels)).toBe(1);
    expect(await value("grpc_server_handled_total", { ...labels, grpc_code: "OK" })).toBe(1);
  });

  it("labels failed calls with the code as grpc-go spells it (NotFound, InvalidArgument)", async () => {
    expect((await callError(client.getUser({ name: "users/missing" }))).code).toBe(Status.NOT_FOUND);
    expect((await callError(client.getUser({ name: "" }))).code).toBe(Status.INVALID_ARGUMENT);
    const labels = { grpc_type: "unary", grpc_service: service, grpc_method: "GetUser" };
    expect(await value("grpc_server_handled_total", { ...labels, grpc_code: "NotFound" })).toBe(1);
    expect(await value("grpc_server_handled_total", { ...labels, grpc_code: "InvalidArgument" })).toBe(1);
    expect(await value("grpc_server_started_total", labels)).toBe(3);
  });

  it("labels an error that is not a ServerError as Unknown", async () => {
    expect((await callError(client.deleteUser({ name: "users/a" }))).code).toBe(Status.UNKNOWN);
    expect(await value("grpc_server_handled_total", { grpc_method: "DeleteUser", grpc_code: "Unknown" })).toBe(1);
  });

  it("observes every handled call in the grpc_server_handling_seconds histogram", async () => {
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "grpc_server_handling_seconds");
    expect(metric?.type).toBe("histogram");
    const observations = metric?.values.find(
      (v) => (v as { metricName?: string }).metricName === "grpc_server_handling_seconds_count" && v.labels.grpc_method === "GetUser",
    );
    expect(observations?.value).toBe(3);
  });

  it("counts one received and one sent message per unary call", async () => {
    const labels = { grpc_type: "unary", grpc_method: "GetUser" };
    // Only the successful call sent a message; all three were received.
    expect(await value("grpc_server_msg_received_total", labels)).toBe(3);
    expect(await value("grpc_server_msg_sent_total", labels)).toBe(1);
  });

  it("counts each streamed message of a server stream as sent", async () => {
    const users = [];
    for await (const response of client.streamUsers({})) users.push(response.user?.name);
    expect(users).toEqual(["users/1", "users/2", "users/3"]);
    const labels = { grpc_type: "server_stream", grpc_service: service, grpc_method: "StreamUsers" };
    expect(await value("grpc_server_msg_sent_total", labels)).toBe(3);
    expect(await value("grpc_server_msg_received_total", labels)).toBe(1);
    expect(await value("grpc_server_handled_total", { ...labels, grpc_code: "OK" })).toBe(1);
  });

  async function cancelAfterFirstMessage(filter: string): Promise<void> {
    const started = new Promise<void>((resolve) => (streamStarted = resolve));
    const abort = new AbortController();
    const stream = client.streamUsers({ filter }, { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await stream.next()).value?.user?.name).toBe("users/1");
    await started;
    abort.abort();
    await expect(stream.next()).rejects.toThrow(/abort/i);
  }

  it("counts a server stream the client cancels as Canceled", async () => {
    await cancelAfterFirstMessage("until-cancelled");
    const labels = { grpc_type: "server_stream", grpc_method: "StreamUsers", grpc_code: "Canceled" };
    await vi.waitFor(async () => expect(await value("grpc_server_handled_total", labels)).toBe(1));
    expect(await value("grpc_server_handled_total", { grpc_method: "StreamUsers", grpc_code: "OK" })).toBe(1);
  });

  it("counts a cancelled server stream as Canceled even when its handler then returns normally", async () => {
    await cancelAfterFirstMessage("ignoring-cancellation");
    const labels = { grpc_type: "server_stream", grpc_method: "StreamUsers", grpc_code: "Canceled" };
    await vi.waitFor(async () => expect(await value("grpc_server_handled_total", labels)).toBe(2));
    expect(await value("grpc_server_handled_total", { grpc_method: "StreamUsers", grpc_code: "OK" })).toBe(1);
  });

  it("exposes the go-grpc-prometheus metric names in the text format", async () => {
    const text = await registry.metrics();
    for (const name of [
      "# TYPE grpc_server_started_total counter",
      "# TYPE grpc_server_handled_total counter",
      "# TYPE grpc_server_handling_seconds histogram",
      "# TYPE grpc_server_msg_received_total counter",
      "# TYPE grpc_server_msg_sent_total counter",
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="launchpad\.user\.v1\.UserService",grpc_method="GetUser",grpc_code="NotFound"\} 1/,
    );
  });
});
