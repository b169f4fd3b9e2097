import { createServer, ServerError, Status } from "nice-grpc";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { checksMiddleware, type CallCheck } from "../../../services/kit/middleware/call-checks.js";
import { callError, serve, userClient, userDefinition, userHandlers, type Served } from "../../support/grpc.js";

describe("checks middleware", () => {
  let served: Served;
  let client: ReturnType<typeof userClient>;
  let ran: string[] = [];

  // The first check names the caller; the second reads that name, as authorization reads authentication's principal.
  const nameCaller: CallCheck<{ caller: string }> = async (call) => {
    ran.push("name caller");
    return { caller: call.method.path.endsWith("StreamUsers") ? "streamer" : "reader" };
  };
  const refuseStrangers: CallCheck<{}, { caller: string }> = (call, context) => {
    ran.push(`refuse strangers (${context.caller})`);
    if ((call.request as { name?: string }).name === "users/stranger") throw new ServerError(Status.PERMISSION_DENIED, "stranger");
  };
  const lastCheck: CallCheck = () => void ran.push("last check");

  beforeAll(async () => {
    const server = createServer().use(checksMiddleware(nameCaller, refuseStrangers, lastCheck));
    server.add(
      userDefinition,
      userHandlers<{ caller: string }>({
        async getUser(request, context) {
          ran.push(`handler (${context.caller})`);
          return { user: { name: request.name } };
        },
        async *streamUsers(_request, context) {
          ran.push(`handler (${context.caller})`);
          yield { user: { name: "users/1" } };
          yield { user: { name: "users/2" } };
        },
      }),
    );
    served = await serve(server);
    client = userClient(served.channel);
  });
  afterAll(() => served?.close());
  beforeEach(() => {
    ran = [];
  });

  it("runs the checks in order, each seeing what the earlier ones added, then the handler with all of it", async () => {
    expect((await client.getUser({ name: "users/a" })).user?.name).toBe("users/a");
    expect(ran).toEqual(["name caller", "refuse strangers (reader)", "last check", "handler (reader)"]);
  });

  it("a check that throws refuses the call: later checks and the handler never run", async () => {
    expect((await callError(client.getUser({ name: "users/stranger" }))).code).toBe(Status.PERMISSION_DENIED);
    expect(ran).toEqual(["name caller", "refuse strangers (reader)"]);
  });

  it("checks a server stream once, before its first message, and passes every message on", async () => {
    const names: string[] = [];
    for await (const { user } of client.streamUsers({})) names.push(user!.name);
    expect(names).toEqual(["users/1", "users/2"]);
    expect(ran).toEqual(["name caller", "refuse strangers (streamer)", "last check", "handler (streamer)"]);
  });
});
