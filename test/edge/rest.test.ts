import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import http2 from "node:http2";
import { getOption, hasOption, type DescService } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role, Theme } from "../../gen/launchpad/user/v1/user_pb.js";
import { CreateUserRequestSchema, UpdateUserRequestSchema, UserService, type UpdateUserRequest } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { httpStatusOf } from "../../edge/rest/errors.js";
import { compareSpecificity, matchPathTemplate, parsePathTemplate } from "../../edge/rest/path-template.js";
import { buildRequest, compileRequestMapping } from "../../edge/rest/request.js";
import { startTestEdgeStack, type TestEdgeStack } from "../support/edge-stack.js";
import { admin } from "../support/users-service.js";
import { eventually, metricValue } from "../support/watching.js";

const typeUrl = (name: string) => `type.googleapis.com/google.rpc.${name}`;

// ---------------------------------------------------------------------------
// The rules, read from the contracts, and which of them the tests exercised.

interface RestRule {
  rpc: string;
  verb: string;
  template: string;
  pattern: RegExp;
}

function rulesOf(service: DescService): RestRule[] {
  return service.methods.flatMap((method) => {
    if (!hasOption(method, http)) return [];
    const rule = getOption(method, http);
    return [rule, ...rule.additionalBindings].flatMap((each: HttpRule): RestRule[] => {
      if (each.pattern.case === undefined) return [];
      const [verb, template] =
        each.pattern.case === "custom" ? [each.pattern.value.kind.toUpperCase(), each.pattern.value.path] : [each.pattern.case.toUpperCase(), each.pattern.value];
      return [{ rpc: `${service.name}.${method.name}`, verb, template, pattern: templatePattern(template) }];
    });
  });
}

/** A template as a regular expression over request paths, written independently of edge/rest. */
function templatePattern(template: string): RegExp {
  const plain = template.replace(/\{[^}=]+=([^}]+)\}/g, "$1").replace(/\{[^}]+\}/g, "*");
  const source = plain
    .split(/(\*\*|\*)/)
    .map((part) => (part === "**" ? ".*" : part === "*" ? "[^/:]+" : part.replace(/[.+?^$()[\]|\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`);
}

const rules = [...rulesOf(UserService), ...rulesOf(DeploymentService)];
const exercised = new Set<RestRule>();

/** Records that a request exercised `rpc`'s rule; the path must be an instance of that rule's template. */
function exercise(rpc: string, verb: string, path: string): void {
  const rule = rules.find((r) => r.rpc === rpc && r.verb === verb && r.pattern.test(path.split("?")[0]!));
  if (!rule) throw new Error(`${verb} ${path} is not an instance of any rule of ${rpc}`);
  exercised.add(rule);
}

// ---------------------------------------------------------------------------
// HTTP helpers.

let stack: TestEdgeStack;
let base: string;
let adminToken: string;

interface Reply {
  status: number;
  headers: Headers;
  json: any;
}

async function send(verb: string, path: string, options: { body?: unknown; token?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(base + path, { method: verb, headers, body });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON; the test will say so.
  }
  return { status: response.status, headers: response.headers, json };
}

/** What a client branching on an edge refusal reads: the status, the code and the first detail, its ErrorInfo. */
function refusalOf(reply: Reply) {
  const info = reply.json.details?.[0];
  expect(info?.domain, JSON.stringify(reply.json)).toBe("launchpad.dev");
  return { status: reply.status, code: reply.json.code, type: info["@type"], reason: info.reason };
}

/** A REST call of `rpc` that must succeed with `status`; records the rule it exercised. */
async function call(rpc: string, verb: string, path: string, options: Parameters<typeof send>[2] = {}, status = 200): Promise<Reply> {
  const reply = await send(verb, path, { token: adminToken, ...options });
  expect({ status: reply.status, body: reply.json }, JSON.stringify(reply.json)).toMatchObject({ status });
  exercise(rpc, verb, path);
  return reply;
}

/** A streamed response read in the background: NDJSON lines or SSE events. */
interface StreamRecording {
  response: Response;
  /** NDJSON: one parsed line each; SSE: one event each, its data parsed. */
  items: { id?: string; event?: string; data: Record<string, unknown> }[];
  ended: Promise<void>;
  until(predicate: (items: StreamRecording["items"]) => boolean, what: string): Promise<void>;
  close(): void;
}

async function openStream(
  path: string,
  options: { format: "ndjson" | "sse"; token?: string; headers?: Record<string, string> },
): Promise<StreamRecording> {
  const controller = new AbortController();
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? adminToken}`, ...options.headers };
  if (options.format === "sse") headers.accept = "text/event-stream";
  const response = await fetch(base + path, { headers, signal: controller.signal });
  const items: StreamRecording["items"] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    const separator = options.format === "sse" ? "\n\n" : "\n";
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let at: number;
        while ((at = buffer.indexOf(separator)) !== -1) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + separator.length);
          if (options.format === "ndjson") items.push({ data: JSON.parse(block) });
          else {
            const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
            items.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data ?? "null") });
          }
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  })();
  return {
    response,
    items,
    ended,
    async until(predicate, what) {
      await eventually(() => predicate(items), what);
    },
    close: () => controller.abort(),
  };
}

function uniqueLabel(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** Creates a user through REST: a person with `password` (one is made up if not given), or a service account. */
async function createUser(fields: Record<string, unknown>, password?: string): Promise<Record<string, any>> {
  const person = fields.kind !== "USER_KIND_SERVICE_ACCOUNT";
  const body = { user: { role: "ROLE_VIEWER", ...fields }, password: person ? (password ?? `password ${randomUUID()}`) : "" };
  const reply = await call("UserService.CreateUser", "POST", "/v1/users", { body }, 201);
  return reply.json.user;
}

async function signIn(email: string, password: string): Promise<string> {
  const reply = await call("UserService.Login", "POST", "/v1/auth:login", { body: { email, password }, token: "" });
  return reply.json.tokens.accessToken;
}

async function createDeployment(fields: Record<string, unknown>, query = ""): Promise<Record<string, any>> {
  const reply = await call("DeploymentService.CreateDeployment", "POST", `/v1/deployments${query}`, { body: { environment: "staging", version: "1.0.0", ...fields } }, 201);
  return reply.json.deployment;
}

let agentKey: string;


beforeAll(async () => {
  stack = await startTestEdgeStack();
  base = stack.url;
  adminToken = await stack.users.login(admin.email, admin.password);
  const agent = await createUser({ email: `${uniqueLabel("agent")}@example.com`, kind: "USER_KIND_SERVICE_ACCOUNT", role: "ROLE_AGENT" });
  agentKey = (await call("UserService.CreateApiKey", "POST", `/v1/${agent.name}/apiKeys`, { body: { displayName: "agent" } }, 201)).json.secret;
});
afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------------------

describe("REST transcoding maps every google.api.http rule of both contracts", () => {
  it("POST /v1/auth:login (body *) signs in; :refresh and :logout take the refresh token; GET /v1/jwks is the JWK Set", async () => {
    const login = await call("UserService.Login", "POST", "/v1/auth:login", { body: { email: admin.email, password: admin.password }, token: "" });
    expect(login.json.tokens).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String), accessTokenExpireTime: expect.stringMatching(/Z$/) });
    const refreshed = await call("UserService.RefreshToken", "POST", "/v1/auth:refresh", { body: { refreshToken: login.json.tokens.refreshToken }, token: "" });
    expect(refreshed.json.tokens.refreshToken).not.toBe(login.json.tokens.refreshToken);
    const out = await call("UserService.Logout", "POST", "/v1/auth:logout", { body: { refresh_token: refreshed.json.tokens.refreshToken }, token: "" });
    expect(out.json).toEqual({});
    const reused = await send("POST", "/v1/auth:refresh", { body: { refreshToken: refreshed.json.tokens.refreshToken } });
    expect(reused.status).toBe(401);

    const jwks = await call("UserService.GetJwks", "GET", "/v1/jwks", { token: "" });
    expect(jwks.json.keys[0]).toMatchObject({ use: "sig", kid: expect.any(String), x: expect.any(String) });
  });

  it("POST /v1/users (body *) answers 201 with every implicit field, at its zero value too", async () => {
    const email = `${uniqueLabel("person")}@example.com`;
    const user = await createUser({ email, displayName: "Person" }, "a long enough password");
    expect(user).toMatchObject({
      name: expect.stringMatching(/^users\//),
      email,
      displayName: "Person",
      kind: "USER_KIND_HUMAN",
      role: "ROLE_VIEWER",
      environments: [],
      state: "USER_STATE_ACTIVE",
      createTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    });
    expect(user).not.toHaveProperty("deleteTime");
    expect(await signIn(email, "a long enough password")).toEqual(expect.any(String));
  });

  it("GET /v1/{name=users/*} and GET /v1/me read a user by path and by credentials", async () => {
    const email = `${uniqueLabel("reader")}@example.com`;
    const user = await createUser({ email }, "reader's password!");
    const byName = await call("UserService.GetUser", "GET", `/v1/${user.name}`);
    expect(byName.json.user).toMatchObject({ name: user.name, email });
    const me = await call("UserService.GetCurrentUser", "GET", "/v1/me", { token: await signIn(email, "reader's password!") });
    expect(me.json.user.name).toBe(user.name);
  });

  it("PATCH /v1/{user.name=users/*}?update_mask=… merges the path into the body's user and changes only the masked fields", async () => {
    const user = await createUser({ email: `${uniqueLabel("patched")}@example.com`, displayName: "Before" });
    const body = { displayName: "After", role: "ROLE_ADMIN", preferences: { theme: "THEME_DARK", timeZone: "Europe/Berlin" } };
    const patched = await call("UserService.UpdateUser", "PATCH", `/v1/${user.name}?update_mask=display_name,preferences.theme`, { body });
    expect(patched.json.user).toMatchObject({ name: user.name, displayName: "After", role: "ROLE_VIEWER", preferences: { theme: "THEME_DARK", timeZone: "" } });
    // lowerCamelCase key and paths work as well.
    const again = await call("UserService.UpdateUser", "PATCH", `/v1/${user.name}?updateMask=preferences.timeZone`, { body });
    expect(again.json.user.preferences).toEqual({ theme: "THEME_DARK", timeZone: "Europe/Berlin", defaultEnvironment: "" });
  });

  it("GET /v1/users?filter=…&page_size=…&order_by=…&page_token=… pages through a filtered list", async () => {
    const label = uniqueLabel("listed");
    for (const i of [1, 2, 3]) await createUser({ email: `${label}-${i}@example.com` });
    const filter = encodeURIComponent(`email : "${label}"`);
    const first = await call("UserService.ListUsers", "GET", `/v1/users?filter=${filter}&page_size=2&order_by=email&show_deleted=false`);
    expect(first.json.users.map((u: { email: string }) => u.email)).toEqual([`${label}-1@example.com`, `${label}-2@example.com`]);
    expect(first.json.totalSize).toBe(3);
    const second = await call("UserService.ListUsers", "GET", `/v1/users?filter=${filter}&pageSize=2&orderBy=email&pageToken=${encodeURIComponent(first.json.nextPageToken)}`);
    expect(second.json).toMatchObject({ users: [{ email: `${label}-3@example.com` }], nextPageToken: "" });
  });

  it("GET /v1/users:stream streams the matching users as NDJSON, one per line", async () => {
    const label = uniqueLabel("streamed");
    for (const i of [1, 2]) await createUser({ email: `${label}-${i}@example.com` });
    const stream = await openStream(`/v1/users:stream?filter=${encodeURIComponent(`email : "${label}"`)}`, { format: "ndjson" });
    await stream.ended;
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get("content-type")).toBe("application/x-ndjson");
    expect(stream.items.map((i) => (i.data.user as { email: string }).email).sort()).toEqual([`${label}-1@example.com`, `${label}-2@example.com`]);
    exercise("UserService.StreamUsers", "GET", "/v1/users:stream");
  });

  it("GET /v1/identityChanges:watch streams NDJSON: a resync first, then a sign-out as the SHA-256 of its session's name", async () => {
    const email = `${uniqueLabel("signs-out")}@example.com`;
    await createUser({ email }, "the password of one who signs out");
    const signedIn = await call("UserService.Login", "POST", "/v1/auth:login", { body: { email, password: "the password of one who signs out" }, token: "" });
    const stream = await openStream("/v1/identityChanges:watch", { format: "ndjson" });
    await stream.until((items) => items.length > 0, "the first message");
    expect(stream.items[0]!.data).toMatchObject({ revision: expect.any(String), resyncTime: expect.any(String) });

    await call("UserService.Logout", "POST", "/v1/auth:logout", { body: { refreshToken: signedIn.json.tokens.refreshToken }, token: "" });

    const sid = JSON.parse(Buffer.from(signedIn.json.tokens.accessToken.split(".")[1], "base64url").toString()).sid as string;
    const subject = createHash("sha256").update(`sessions/${sid}`).digest("base64url");
    await stream.until((items) => items.some((item) => (item.data.changes as { subject: string }[] | undefined)?.some((c) => c.subject === subject)), "the sign-out");
    stream.close();
    expect(stream.response.headers.get("content-type")).toBe("application/x-ndjson");
    exercise("UserService.WatchIdentityChanges", "GET", "/v1/identityChanges:watch");
  });

  it("POST /v1/{name=users/*}:changePassword (body *) sets a new password", async () => {
    const email = `${uniqueLabel("changer")}@example.com`;
    const user = await createUser({ email }, "the first password");
    const changed = await call("UserService.ChangePassword", "POST", `/v1/${user.name}:changePassword`, { body: { newPassword: "the second password" } });
    expect(changed.json).toEqual({});
    expect(await signIn(email, "the second password")).toEqual(expect.any(String));
    expect((await send("POST", "/v1/auth:login", { body: { email, password: "the first password" } })).status).toBe(401);
  });

  it("API keys: POST …/apiKeys (201, body api_key with a Timestamp), GET …/apiKeys?show_revoked=true, DELETE …/apiKeys/*, POST /v1/auth:authenticateApiKey", async () => {
    const user = await createUser({ email: `${uniqueLabel("keyholder")}@example.com`, kind: "USER_KIND_SERVICE_ACCOUNT", role: "ROLE_AGENT" });
    const created = await call("UserService.CreateApiKey", "POST", `/v1/${user.name}/apiKeys`, { body: { displayName: "ci", expireTime: "2099-01-02T03:04:05Z" } }, 201);
    expect(created.json).toMatchObject({ secret: expect.any(String), apiKey: { name: expect.stringMatching(new RegExp(`^${user.name}/apiKeys/`)), expireTime: "2099-01-02T03:04:05Z" } });

    const verified = await call("UserService.AuthenticateApiKey", "POST", "/v1/auth:authenticateApiKey", { body: { apiKey: created.json.secret }, token: "" });
    expect(verified.json).toMatchObject({ principal: { user: user.name, role: "ROLE_AGENT", kind: "USER_KIND_SERVICE_ACCOUNT" }, apiKey: created.json.apiKey.name });

    const deleted = await call("UserService.DeleteApiKey", "DELETE", `/v1/${created.json.apiKey.name}`);
    expect(deleted.json.apiKey.revokeTime).toEqual(expect.any(String));
    const active = await call("UserService.ListApiKeys", "GET", `/v1/${user.name}/apiKeys`);
    expect(active.json.apiKeys).toEqual([]);
    const all = await call("UserService.ListApiKeys", "GET", `/v1/${user.name}/apiKeys?show_revoked=true&page_size=10`);
    expect(all.json.apiKeys.map((k: { name: string }) => k.name)).toEqual([created.json.apiKey.name]);
  });

  it("DELETE /v1/{name=users/*}?etag=… disables the user; a stale etag is 409", async () => {
    const user = await createUser({ email: `${uniqueLabel("deleted")}@example.com` });
    const stale = await send("DELETE", `/v1/${user.name}?etag=not-the-etag`, { token: adminToken });
    expect(stale.status).toBe(409);
    const deleted = await call("UserService.DeleteUser", "DELETE", `/v1/${user.name}?etag=${encodeURIComponent(user.etag)}`);
    expect(deleted.json.user).toMatchObject({ state: "USER_STATE_DISABLED", deleteTime: expect.any(String) });
  });

  it("POST /v1/deployments?request_id=… (body deployment) answers 201; the same request_id returns the same deployment", async () => {
    const service = uniqueLabel("created");
    const first = await createDeployment({ service, labels: { commit: "abc" } }, "?request_id=req-1");
    expect(first).toMatchObject({ service, state: "DEPLOYMENT_STATE_PENDING", progressPercent: 0, labels: { commit: "abc" }, revision: expect.stringMatching(/^\d+$/) });
    const again = await createDeployment({ service, labels: { commit: "abc" } }, "?requestId=req-1");
    expect(again.name).toBe(first.name);
  });

  it("GET /v1/{name=deployments/*}, GET /v1/deployments?filter=…&page_size=…, GET /v1/{parent=deployments/*}/events?page_size=…", async () => {
    const service = uniqueLabel("read");
    const older = await createDeployment({ service, environment: "dev" });
    const newer = await createDeployment({ service, environment: "prod" });
    expect((await call("DeploymentService.GetDeployment", "GET", `/v1/${newer.name}`)).json.deployment).toMatchObject({ name: newer.name, environment: "prod" });

    const filter = encodeURIComponent(`service = "${service}"`);
    const page = await call("DeploymentService.ListDeployments", "GET", `/v1/deployments?filter=${filter}&page_size=1&order_by=create_time`);
    expect(page.json).toMatchObject({ deployments: [{ name: older.name }], totalSize: 2, nextPageToken: expect.stringMatching(/./) });

    await call("DeploymentService.CancelDeployment", "POST", `/v1/${older.name}:cancel`, { body: { reason: "read test" } });
    const events = await call("DeploymentService.ListDeploymentEvents", "GET", `/v1/${older.name}/events?page_size=1`);
    expect(events.json.events).toEqual([expect.objectContaining({ sequence: "1", type: "DEPLOYMENT_EVENT_TYPE_CREATED", deployment: older.name })]);
    const rest = await call("DeploymentService.ListDeploymentEvents", "GET", `/v1/${older.name}/events?page_token=${encodeURIComponent(events.json.nextPageToken)}`);
    expect(rest.json.events.map((e: { state: string }) => e.state)).toEqual(["DEPLOYMENT_STATE_CANCELLED"]);
  });

  it("POST …:reportProgress, …:cancel and …:rollback (body *) answer 200 and map the path's name", async () => {
    const service = uniqueLabel("lifecycle");
    const ship = async (version: string, state: string) => {
      const deployment = await createDeployment({ service, version, environment: "production" });
      await call("DeploymentService.ReportDeploymentProgress", "POST", `/v1/${deployment.name}:reportProgress`, {
        body: { state: "DEPLOYMENT_STATE_IN_PROGRESS", progressPercent: 10, statusMessage: "rolling" },
        token: agentKey,
      });
      return (await call("DeploymentService.ReportDeploymentProgress", "POST", `/v1/${deployment.name}:reportProgress`, { body: { state }, token: agentKey })).json.deployment;
    };
    const good = await ship("1.0.0", "DEPLOYMENT_STATE_SUCCEEDED");
    expect(good).toMatchObject({ state: "DEPLOYMENT_STATE_SUCCEEDED", progressPercent: 100, statusMessage: "rolling" });
    const bad = await ship("2.0.0", "DEPLOYMENT_STATE_FAILED");

    const rollback = await call("DeploymentService.RollbackDeployment", "POST", `/v1/${bad.name}:rollback`, { body: { requestId: "rb-1", description: "back" } });
    expect(rollback.json.deployment).toMatchObject({ version: "1.0.0", rollbackOf: bad.name, state: "DEPLOYMENT_STATE_PENDING", description: "back" });
    const cancelled = await call("DeploymentService.CancelDeployment", "POST", `/v1/${rollback.json.deployment.name}:cancel`, { body: { reason: "not now" } });
    expect(cancelled.json.deployment.state).toBe("DEPLOYMENT_STATE_CANCELLED");
  });

  it("GET /v1/{name=deployments/*}:watch streams NDJSON: the snapshot, then each change as it commits", async () => {
    const deployment = await createDeployment({ service: uniqueLabel("watched") });
    const stream = await openStream(`/v1/${deployment.name}:watch`, { format: "ndjson" });
    expect(stream.response.headers.get("content-type")).toBe("application/x-ndjson");
    await stream.until((items) => items.some((i) => i.data.snapshot), "the snapshot");
    await call("DeploymentService.CancelDeployment", "POST", `/v1/${deployment.name}:cancel`, { body: {} });
    await stream.until((items) => items.some((i) => i.data.change), "the change");
    stream.close();
    expect(stream.items[0]!.data).toMatchObject({ snapshot: { name: deployment.name }, revision: deployment.revision });
    const change = stream.items.find((i) => i.data.change)!.data as { change: { deployment: { state: string } } };
    expect(change.change.deployment.state).toBe("DEPLOYMENT_STATE_CANCELLED");
    exercise("DeploymentService.WatchDeployment", "GET", `/v1/${deployment.name}:watch`);
  });

  it("GET /v1/deployments:watch?filter=… streams Server-Sent Events with id: <revision>", async () => {
    const service = uniqueLabel("sse");
    const stream = await openStream(`/v1/deployments:watch?filter=${encodeURIComponent(`service = "${service}"`)}`, { format: "sse" });
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    await stream.until((items) => items.length > 0, "the snapshot");
    const created = await createDeployment({ service });
    await stream.until((items) => items.some((i) => i.data.change), "the change");
    stream.close();
    expect(stream.items[0]).toMatchObject({ id: expect.stringMatching(/^\d+$/), data: { snapshot: { deployments: [] } } });
    const change = stream.items.find((i) => i.data.change)!;
    expect(change).toMatchObject({ id: created.revision, data: { revision: created.revision, change: { deployment: { name: created.name } } } });
    exercise("DeploymentService.WatchDeployments", "GET", "/v1/deployments:watch");
  });
});

describe("path templates", () => {
  const match = (template: string, path: string) => matchPathTemplate(parsePathTemplate(template), path);

  it("capture variables (nested field paths too) and require custom verbs", () => {
    expect(match("/v1/{parent=users/*}/apiKeys", "/v1/users/u%201/apiKeys")).toEqual(["users/u 1"]);
    expect(match("/v1/{user.name=users/*}", "/v1/users/u1")).toEqual(["users/u1"]);
    expect(match("/v1/{name=deployments/*}:cancel", "/v1/deployments/d1:cancel")).toEqual(["deployments/d1"]);
    expect(match("/v1/{name=deployments/*}:cancel", "/v1/deployments/d1")).toBeUndefined();
    expect(match("/v1/{name=deployments/*}", "/v1/deployments/")).toBeUndefined();
    expect(match("/v1/users:stream", "/v1/users:stream")).toEqual([]);
  });

  it("** matches the rest of the path, zero segments included", () => {
    expect(match("/v1/{path=files/**}:get", "/v1/files/a/b/c:get")).toEqual(["files/a/b/c"]);
    expect(match("/v1/{path=files/**}", "/v1/files")).toEqual(["files"]);
    expect(match("/v1/{id}/**", "/v1/x/y/z")).toEqual(["x"]);
  });

  it("order most specific first: a verb, then literals, then * before **", () => {
    const sources = ["/v1/**", "/v1/{name=deployments/*}", "/v1/{name=deployments/*}:watch", "/v1/deployments/*", "/v1/deployments/special"];
    const sorted = sources.map(parsePathTemplate).sort(compareSpecificity).map((t) => t.source);
    expect(sorted).toEqual(["/v1/{name=deployments/*}:watch", "/v1/deployments/special", "/v1/{name=deployments/*}", "/v1/deployments/*", "/v1/**"]);
  });

  it("refuse malformed templates at start-up", () => {
    for (const bad of ["v1/users", "/v1/{name=users/*", "/v1/**/x", "/v1/{9name}", "/v1/users:"]) expect(() => parsePathTemplate(bad), bad).toThrow(/invalid path template/);
  });
});

describe("query parameters", () => {
  const updateWithoutBody = compileRequestMapping(UpdateUserRequestSchema, parsePathTemplate("/v1/{user.name=users/*}"), "");
  const build = (query: string) =>
    buildRequest(updateWithoutBody, { variables: ["users/u1"], query: new URLSearchParams(query), body: undefined }) as UpdateUserRequest;

  it("set nested fields, repeated fields (key repeated), enums by name or number, Timestamps and FieldMasks (snake_case or lowerCamelCase)", () => {
    const request = build(
      "user.preferences.theme=THEME_DARK&user.role=4&user.environments=staging&user.environments=production" +
        "&user.createTime=2024-05-06T07:08:09.5Z&update_mask=display_name,preferences.timeZone&user.display_name=Ann",
    );
    expect(request.user).toMatchObject({ name: "users/u1", role: Role.ADMIN, environments: ["staging", "production"], displayName: "Ann" });
    expect(request.user?.preferences?.theme).toBe(Theme.DARK);
    expect(request.user?.createTime).toMatchObject({ seconds: BigInt(Date.parse("2024-05-06T07:08:09Z") / 1000), nanos: 500_000_000 });
    expect(request.updateMask?.paths).toEqual(["display_name", "preferences.time_zone"]);
    expect(build("user.role=ROLE_DEPLOYER").user?.role).toBe(Role.DEPLOYER);
  });

  it("refuse unknown keys, bad values, a second value of a singular field, and messages that have no text form, naming the parameter", () => {
    const refusal = (query: string) => {
      try {
        build(query);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error(`${query} was accepted`);
    };
    expect(refusal("user.nickname=x")).toMatch(/unknown query parameter "user.nickname"/);
    expect(refusal("user.role=ROLE_BOSS")).toMatch(/query parameter "user.role"/);
    expect(refusal("user.createTime=yesterday")).toMatch(/query parameter "user.createTime"/);
    expect(refusal("user.display_name=a&user.display_name=b")).toMatch(/given 2 times/);
    expect(refusal("user.preferences=dark")).toMatch(/user.preferences.<field>|preferences.<field>/);
    expect(refusal("user.name=users/other")).toMatch(/the path or the body sets it/);
    // A field bound to the body is not a query parameter either.
    const withBody = compileRequestMapping(CreateUserRequestSchema, parsePathTemplate("/v1/users"), "user");
    expect(() => buildRequest(withBody, { variables: [], query: new URLSearchParams("user.email=a@b.c"), body: {} })).toThrow(/the path or the body sets it/);
  });

  it("through the edge: an unknown or malformed parameter is 400 INVALID_ARGUMENT with an ErrorInfo reason and a BadRequest naming it", async () => {
    const unknown = await send("GET", "/v1/users?page_size=2&colour=blue", { token: adminToken });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining('"colour"'),
      details: [
        { "@type": typeUrl("ErrorInfo"), reason: "UNKNOWN_QUERY_PARAMETER", domain: "launchpad.dev" },
        { "@type": typeUrl("BadRequest"), fieldViolations: [{ field: "colour" }] },
      ],
    });
    const badPageSize = await send("GET", "/v1/users?page_size=many", { token: adminToken });
    expect(refusalOf(badPageSize)).toEqual({ status: 400, code: Code.InvalidArgument, type: typeUrl("ErrorInfo"), reason: "INVALID_QUERY_PARAMETER" });
    expect(badPageSize.json.message).toMatch(/page_size/);
    expect(badPageSize.json.details[1]).toMatchObject({ fieldViolations: [{ field: "page_size" }] });
    expect(refusalOf(await send("GET", "/v1/users?show_deleted=perhaps", { token: adminToken })).reason).toBe("INVALID_QUERY_PARAMETER");
    expect(refusalOf(await send("GET", "/v1/users/abc?name=users/def", { token: adminToken })).reason).toBe("INVALID_QUERY_PARAMETER");
    const bodyStar = await send("POST", "/v1/auth:login?email=x@example.com", { body: { password: "x" } });
    expect(refusalOf(bodyStar).reason).toBe("INVALID_QUERY_PARAMETER");
    expect(bodyStar.json.message).toContain("every field in the body");
  });
});

describe("errors are google.rpc.Status JSON with grpc-gateway's HTTP status", () => {
  it("maps every gRPC code as grpc-gateway does", () => {
    expect(Object.fromEntries([0, ...Array.from({ length: 16 }, (_, i) => i + 1)].map((code) => [code, httpStatusOf(code)]))).toEqual({
      0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
    });
  });

  it("404 NOT_FOUND carries its ErrorInfo; 401 without credentials", async () => {
    const missing = await send("GET", "/v1/users/nobody", { token: adminToken });
    expect(missing).toMatchObject({
      status: 404,
      json: { code: Code.NotFound, message: expect.stringContaining("users/nobody"), details: [{ "@type": typeUrl("ErrorInfo"), reason: "USER_NOT_FOUND", domain: "launchpad.dev" }] },
    });
    expect(missing.headers.get("content-type")).toBe("application/json");
    const anonymous = await send("GET", "/v1/me");
    expect(anonymous).toMatchObject({ status: 401, json: { code: Code.Unauthenticated, details: [{ reason: "CREDENTIALS_REQUIRED" }] } });
    const anonymousWatch = await send("GET", "/v1/deployments:watch");
    expect(anonymousWatch).toMatchObject({ status: 401, json: { code: Code.Unauthenticated } });
  });

  it("400 with BadRequest field violations; 409 for ALREADY_EXISTS and ABORTED; 400 for FAILED_PRECONDITION; 403 for PERMISSION_DENIED", async () => {
    const invalid = await send("POST", "/v1/deployments", { token: adminToken, body: { version: "1", environment: "dev" } });
    expect(invalid).toMatchObject({ status: 400, json: { code: Code.InvalidArgument, details: expect.arrayContaining([{ "@type": typeUrl("BadRequest"), fieldViolations: [expect.objectContaining({ field: "deployment.service" })] }]) } });

    const taken = await send("POST", "/v1/users", { token: adminToken, body: { user: { email: admin.email, role: "ROLE_VIEWER" }, password: "a long enough password" } });
    expect(taken).toMatchObject({ status: 409, json: { code: Code.AlreadyExists } });

    const service = uniqueLabel("conflict");
    const running = await createDeployment({ service });
    const second = await send("POST", "/v1/deployments", { token: adminToken, body: { service, version: "2", environment: "staging" } });
    expect(second).toMatchObject({ status: 409, json: { code: Code.Aborted, details: [{ reason: "DEPLOYMENT_IN_PROGRESS", metadata: { deployment: running.name } }] } });

    await call("DeploymentService.CancelDeployment", "POST", `/v1/${running.name}:cancel`, { body: {} });
    const again = await send("POST", `/v1/${running.name}:cancel`, { token: adminToken, body: {} });
    expect(again).toMatchObject({ status: 400, json: { code: Code.FailedPrecondition, details: [{ reason: "INVALID_STATE_TRANSITION" }] } });

    const viewerEmail = `${uniqueLabel("viewer")}@example.com`;
    await createUser({ email: viewerEmail }, "viewer password!!");
    const denied = await send("POST", "/v1/deployments", { token: await signIn(viewerEmail, "viewer password!!"), body: { service, version: "3", environment: "staging" } });
    expect(denied).toMatchObject({ status: 403, json: { code: Code.PermissionDenied } });
  });

  it("a body that is not JSON, names an unknown field or has a bad value is 400 INVALID_ARGUMENT with its own ErrorInfo reason", async () => {
    const broken = await send("POST", "/v1/auth:login", { body: "{not json" });
    expect(refusalOf(broken)).toEqual({ status: 400, code: Code.InvalidArgument, type: typeUrl("ErrorInfo"), reason: "MALFORMED_REQUEST" });
    expect(broken.json.message).toContain("not valid JSON");
    const unknown = await send("POST", "/v1/deployments", { token: adminToken, body: { service: "x", colour: "blue" } });
    expect(refusalOf(unknown)).toEqual({ status: 400, code: Code.InvalidArgument, type: typeUrl("ErrorInfo"), reason: "UNKNOWN_BODY_FIELD" });
    expect(unknown.json.message).toContain("colour");
    const unknownInStar = await send("POST", "/v1/auth:login", { body: { email: "a@example.com", password: "x", colour: "blue" } });
    expect(refusalOf(unknownInStar).reason).toBe("UNKNOWN_BODY_FIELD");
    const badValue = await send("POST", "/v1/deployments", { token: adminToken, body: { service: 7, colour: "blue" } });
    expect(refusalOf(badValue)).toEqual({ status: 400, code: Code.InvalidArgument, type: typeUrl("ErrorInfo"), reason: "INVALID_BODY" });
  });

  it("a known path with the wrong method is 405 with Allow; an unknown path is left to the rest of the edge", async () => {
    const wrong = await send("PUT", "/v1/users", { token: adminToken, body: {} });
    expect(refusalOf(wrong)).toEqual({ status: 405, code: Code.Unimplemented, type: typeUrl("ErrorInfo"), reason: "METHOD_NOT_ALLOWED" });
    expect(wrong.headers.get("allow")).toBe("GET, POST");
    expect((await send("POST", "/v1/users/abc", { token: adminToken })).headers.get("allow")).toBe("DELETE, GET, PATCH");
    const elsewhere = await send("GET", "/v1/nothing/here", { token: adminToken });
    expect(elsewhere.status).toBe(404);
  });

  it("sign-in throttling is 429 with Retry-After from the RetryInfo", async () => {
    const email = `${uniqueLabel("throttled")}@example.com`;
    let reply: Reply | undefined;
    for (let i = 0; i < 20; i++) {
      reply = await send("POST", "/v1/auth:login", { body: { email, password: "wrong password" } });
      if (reply.status !== 401) break;
    }
    expect(reply).toMatchObject({ status: 429, json: { code: Code.ResourceExhausted, details: expect.arrayContaining([expect.objectContaining({ "@type": typeUrl("RetryInfo") })]) } });
    const retry = reply!.json.details.find((d: { "@type": string }) => d["@type"] === typeUrl("RetryInfo"));
    expect(Number(reply!.headers.get("retry-after"))).toBe(Math.ceil(Number.parseFloat(retry.retryDelay)));
    expect(Number(reply!.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("server streams", () => {
  it("SSE resumes with Last-Event-ID: nothing missed, nothing repeated", async () => {
    const service = uniqueLabel("resumed");
    const path = `/v1/deployments:watch?filter=${encodeURIComponent(`service = "${service}"`)}`;
    const first = await openStream(path, { format: "sse" });
    await first.until((items) => items.length > 0, "the snapshot");
    const one = await createDeployment({ service });
    await first.until((items) => items.some((i) => i.data.change), "the first change");
    first.close();
    const lastId = first.items.at(-1)!.id!;

    // Changes while disconnected.
    await call("DeploymentService.CancelDeployment", "POST", `/v1/${one.name}:cancel`, { body: {} });
    const two = await createDeployment({ service });

    const second = await openStream(path, { format: "sse", headers: { "last-event-id": lastId } });
    await second.until((items) => items.filter((i) => i.data.change).length >= 2, "the missed changes");
    await call("DeploymentService.CancelDeployment", "POST", `/v1/${two.name}:cancel`, { body: {} });
    await second.until((items) => items.filter((i) => i.data.change).length >= 3, "a new change");
    second.close();

    expect(second.items.some((i) => i.data.snapshot)).toBe(false);
    const seen = [...first.items, ...second.items].filter((i) => i.data.change).map((i) => {
      const event = (i.data.change as { event: { deployment: string; sequence: string; revision: string } }).event;
      expect(i.id).toBe(event.revision);
      return `${event.deployment}#${event.sequence}`;
    });
    expect(seen).toEqual([`${one.name}#1`, `${one.name}#2`, `${two.name}#1`, `${two.name}#2`]);
  });

  it("honours X-Timeout-Ms and Grpc-Timeout: the watch ends with DEADLINE_EXCEEDED; a malformed one is 400", async () => {
    const deployment = await createDeployment({ service: uniqueLabel("deadline") });
    const started = Date.now();
    const ndjson = await openStream(`/v1/${deployment.name}:watch`, { format: "ndjson", headers: { "x-timeout-ms": "600" } });
    await ndjson.ended;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(ndjson.items[0]!.data.snapshot).toBeDefined();
    expect(ndjson.items.at(-1)!.data).toMatchObject({ error: { code: Code.DeadlineExceeded } });

    const sse = await openStream(`/v1/${deployment.name}:watch`, { format: "sse", headers: { "grpc-timeout": "500m" } });
    await sse.ended;
    expect(sse.items.at(-1)).toMatchObject({ event: "error", data: { code: Code.DeadlineExceeded } });

    const malformed = await send("GET", `/v1/${deployment.name}`, { token: adminToken, headers: { "x-timeout-ms": "soon" } });
    expect(refusalOf(malformed)).toEqual({ status: 400, code: Code.InvalidArgument, type: typeUrl("ErrorInfo"), reason: "INVALID_HEADER" });
  });

  it.each(["ndjson", "sse"] as const)("a client closing a %s watch cancels the upstream watch at once", async (format) => {
    const metricsPort = stack.deployments.running.metricsPort;
    const open = () => metricValue(metricsPort, "deployment_watch_streams");
    const before = await open();
    const stream = await openStream("/v1/deployments:watch", { format });
    await stream.until((items) => items.length > 0, "the snapshot");
    expect(await open()).toBe(before + 1);
    stream.close();
    await eventually(async () => (await open()) === before, "the upstream watch to end", 5_000);
  });
});

describe("over HTTP/2", () => {
  it("h2c clients get the same answers, and resetting a watch stream cancels the upstream watch", async () => {
    const session = http2.connect(base);
    session.on("error", () => undefined);
    try {
      const me = session.request({ ":path": "/v1/me", authorization: `Bearer ${adminToken}` });
      const [headers, body] = await Promise.all([once(me, "response"), (async () => Buffer.concat(await me.toArray()).toString())()]);
      expect(headers[0][":status"]).toBe(200);
      expect(JSON.parse(body).user.email).toBe(admin.email);

      const metricsPort = stack.deployments.running.metricsPort;
      const open = () => metricValue(metricsPort, "deployment_watch_streams");
      const before = await open();
      const watch = session.request({ ":path": "/v1/deployments:watch", authorization: `Bearer ${adminToken}` });
      watch.on("error", () => undefined);
      const [first] = (await once(watch, "data")) as [Buffer];
      expect(JSON.parse(first.toString().split("\n")[0]!)).toHaveProperty("snapshot");
      expect(await open()).toBe(before + 1);
      watch.close(http2.constants.NGHTTP2_CANCEL);
      await eventually(async () => (await open()) === before, "the upstream watch to end", 5_000);
    } finally {
      session.close();
    }
  });
});

describe("coverage", () => {
  it("every google.api.http rule of both contracts was exercised through REST", () => {
    expect(rules.length).toBeGreaterThanOrEqual(UserService.methods.length + DeploymentService.methods.length);
    const missed = rules.filter((r) => !exercised.has(r)).map((r) => `${r.rpc} ${r.verb} ${r.template}`);
    expect(missed).toEqual([]);
  });
});
