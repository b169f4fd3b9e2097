import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeploymentState as State, type Deployment } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import { createDeployment, deploymentIn, driveTo, recordOf, uniqueService, type DeploymentDriver } from "../support/deployment-states.js";
import { andTerms, expectRefusedChangingNothing, forgedPageToken, raw, refused, year99999, type BadInput } from "../support/bad-inputs.js";
import { rawUnaryCall } from "../support/raw-grpc.js";
import { createTestUser } from "../support/test-users.js";
import { admin } from "../support/users-service.js";

let stack: TestStack;
let adminToken: string;
let agentKey: string;
/** An IN_PROGRESS deployment every bad request aims at; its etag moved on, so `staleEtag` is a real, old one. */
let target: Deployment;
let staleEtag: string;
/** A FAILED deployment after a success of the same service: something that can be rolled back. */
let rollbackable: Deployment;

const client = () => stack.deployments.client;
const asAdmin = () => stack.auth(adminToken);
const asAgent = () => stack.auth(agentKey);
const driver: DeploymentDriver = { client, asUser: asAdmin, asAgent };

const fiveMegabytes = "x".repeat(5 * 1024 * 1024);
const invalidUtf8 = new Uint8Array([0x61, 0xff, 0xfe, 0x62]);
const utf8 = (text: string) => new TextEncoder().encode(text);
const missing = "deployments/does-not-exist";

/** Reads the first message of a stream (where a refusal arrives), then cancels it. */
async function firstOf(stream: AsyncIterable<unknown>): Promise<unknown> {
  for await (const item of stream) return item;
  return undefined;
}

/** A CreateDeploymentRequest whose deployment.service is these bytes, encoded by hand. */
function createBytes(service: Uint8Array, version = "1.0.0", environment = "staging"): Uint8Array {
  const deployment = new BinaryWriter()
    .tag(2, WireType.LengthDelimited)
    .bytes(service)
    .tag(3, WireType.LengthDelimited)
    .string(version)
    .tag(4, WireType.LengthDelimited)
    .string(environment)
    .finish();
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(deployment).finish();
}

/** A ReportDeploymentProgressRequest whose status_message is these bytes, encoded by hand. */
function reportBytes(name: string, statusMessage: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).string(name).tag(4, WireType.LengthDelimited).bytes(statusMessage).finish();
}

/** Everything a bad request could have changed: every deployment, and the target's history. */
async function storedState() {
  const list = await client().listDeployments({ pageSize: 1000 }, asAdmin());
  const { events } = await client().listDeploymentEvents({ parent: target.name, pageSize: 1000 }, asAdmin());
  return { list, events };
}

const { INVALID_ARGUMENT, NOT_FOUND, ABORTED, FAILED_PRECONDITION, RESOURCE_EXHAUSTED } = Status;
const good = { service: "bad-input-never-created", version: "1.0.0", environment: "staging" };
const create = (deployment: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}) =>
  client().createDeployment({ ...(deployment === undefined ? {} : { deployment }), ...extra }, asAdmin());

const badNames = ["deployment/abc", "users/abc", "deployments/a/b", "deployments/../x", "deployments/", `deployments/${"a".repeat(65)}`, "deployments/a b"];

const badInputs: BadInput[] = [
  // CreateDeployment: required fields
  refused("CreateDeployment without deployment", () => create(undefined), INVALID_ARGUMENT, "FIELD_REQUIRED", ["deployment"]),
  refused("CreateDeployment with an empty deployment", () => create({}), INVALID_ARGUMENT, "FIELD_REQUIRED", ["deployment.service", "deployment.version", "deployment.environment"]),
  ...(["service", "version", "environment"] as const).flatMap((field) => [
    refused(`CreateDeployment without deployment.${field}`, () => create({ ...good, [field]: "" }), INVALID_ARGUMENT, "FIELD_REQUIRED", [`deployment.${field}`]),
    refused(`CreateDeployment with a blank deployment.${field}`, () => create({ ...good, [field]: "   " }), INVALID_ARGUMENT, "FIELD_REQUIRED", [`deployment.${field}`]),
  ]),

  // CreateDeployment: malformed fields
  ...["Checkout", "check out", "-checkout", "checkout_api", "x".repeat(64), "'; DROP TABLE deployments; --"].map((service) =>
    refused(`CreateDeployment of service ${JSON.stringify(service.slice(0, 30))}`, () => create({ ...good, service }), INVALID_ARGUMENT, "INVALID_SERVICE", ["deployment.service"]),
  ),
  // Refused for every string field before any method rule: PostgreSQL cannot store U+0000.
  refused('CreateDeployment of service "ch\\u0000eckout"', () => create({ ...good, service: "ch\u0000eckout" }), INVALID_ARGUMENT, "NUL_CHARACTER", ["deployment.service"]),
  ...["Production", "prod env", "prod/eu", "-prod", "p".repeat(64)].map((environment) =>
    refused(`CreateDeployment to environment ${JSON.stringify(environment.slice(0, 30))}`, () => create({ ...good, environment }), INVALID_ARGUMENT, "INVALID_ENVIRONMENT", ["deployment.environment"]),
  ),
  ...["1.0 beta", "1.0/../2", "v".repeat(129), "1.0;rm -rf"].map((version) =>
    refused(`CreateDeployment of version ${JSON.stringify(version.slice(0, 30))}`, () => create({ ...good, version }), INVALID_ARGUMENT, "INVALID_VERSION", ["deployment.version"]),
  ),
  refused("CreateDeployment with a label key in upper case", () => create({ ...good, labels: { Commit: "abc" } }), INVALID_ARGUMENT, "INVALID_LABEL", ["deployment.labels[Commit]"]),
  refused("CreateDeployment with a label key holding a space", () => create({ ...good, labels: { "my key": "abc" } }), INVALID_ARGUMENT, "INVALID_LABEL", ["deployment.labels[my key]"]),
  refused("CreateDeployment with an empty label key", () => create({ ...good, labels: { "": "abc" } }), INVALID_ARGUMENT, "INVALID_LABEL", ["deployment.labels[]"]),
  refused("CreateDeployment with a label value over 256 characters", () => create({ ...good, labels: { commit: "a".repeat(257) } }), INVALID_ARGUMENT, "INVALID_LABEL", ["deployment.labels[commit]"]),
  refused(
    "CreateDeployment with 65 labels",
    () => create({ ...good, labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) }),
    INVALID_ARGUMENT,
    "TOO_MANY_LABELS",
    ["deployment.labels"],
  ),
  refused("CreateDeployment with a description over 1000 characters", () => create({ ...good, description: "d".repeat(1001) }), INVALID_ARGUMENT, "INVALID_DESCRIPTION", ["deployment.description"]),
  ...["has space", "r".repeat(65), "ünïcode", "semi;colon"].map((requestId) =>
    refused(`CreateDeployment with request_id ${JSON.stringify(requestId.slice(0, 30))}`, () => create(good, { requestId }), INVALID_ARGUMENT, "INVALID_REQUEST_ID", ["request_id"]),
  ),
  refused("CreateDeployment of 5 MB", () => create({ ...good, description: fiveMegabytes }), RESOURCE_EXHAUSTED),
  refused(
    "CreateDeployment with invalid UTF-8 in deployment.service",
    () => raw(rawUnaryCall(stack.deployments.address, methodPath(DeploymentService.method.createDeployment), createBytes(invalidUtf8), { authorization: `Bearer ${adminToken}` })),
    INVALID_ARGUMENT,
    "MALFORMED_REQUEST",
  ),

  // GetDeployment
  refused("GetDeployment without name", () => client().getDeployment({}, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  ...badNames.map((name) =>
    refused(`GetDeployment of ${JSON.stringify(name.slice(0, 30))}`, () => client().getDeployment({ name }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  ),
  refused("GetDeployment of a deployment that does not exist", () => client().getDeployment({ name: missing }, asAdmin()), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),

  // ListDeployments and WatchDeployments
  refused("ListDeployments with page_size -1", () => client().listDeployments({ pageSize: -1 }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_SIZE", ["page_size"]),
  ...["name", "create_time asc", "state", "create_time desc; DROP TABLE deployments", "create_time,update_time"].map((orderBy) =>
    refused(`ListDeployments ordered by ${JSON.stringify(orderBy)}`, () => client().listDeployments({ orderBy }, asAdmin()), INVALID_ARGUMENT, "INVALID_ORDER_BY", ["order_by"]),
  ),
  ...[
    ['version = "1.0.0"', "on an unknown field"],
    ['labels = "x"', "on labels"],
    ['service = "a" OR service = "b"', "with OR"],
    ['NOT service = "a"', "with NOT"],
    ['(service = "a")', "with parentheses"],
    ["state = DEPLOYMENT_STATE_DONE", "on an unknown state"],
    ["state = DEPLOYMENT_STATE_UNSPECIFIED", "on the UNSPECIFIED state"],
    ['state > "1"', "on a state with >"],
    ['create_time > "yesterday"', "on a time that is not RFC 3339"],
    ['service = "abc', "with an unterminated string"],
    ['service = "a" service = "b"', "with two comparisons and no AND"],
    ["service =", "with a comparison missing its value"],
  ].flatMap(([filter, what]) => [
    refused(`ListDeployments filtered ${what}`, () => client().listDeployments({ filter }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
    refused(`WatchDeployments filtered ${what}`, () => firstOf(client().watchDeployments({ filter }, asAdmin())), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  ]),
  refused(
    "ListDeployments with a page token issued for another filter",
    async () => {
      const first = await client().listDeployments({ pageSize: 1, filter: 'environment = "staging"' }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listDeployments({ pageSize: 1, filter: 'environment = "production"', pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused(
    "ListDeployments with a page token issued for another order",
    async () => {
      const first = await client().listDeployments({ pageSize: 1, orderBy: "create_time" }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listDeployments({ pageSize: 1, orderBy: "update_time", pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused(
    "ListDeployments with a page token issued by ListDeploymentEvents",
    async () => {
      const first = await client().listDeploymentEvents({ parent: target.name, pageSize: 1 }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listDeployments({ pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused("ListDeployments with a page token it never issued", () => client().listDeployments({ pageToken: "bm90IGEgdG9rZW4" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("WatchDeployments with resume_revision -1", () => firstOf(client().watchDeployments({ resumeRevision: -1n }, asAdmin())), INVALID_ARGUMENT, "INVALID_REVISION", ["resume_revision"]),

  // ReportDeploymentProgress
  refused("ReportDeploymentProgress without name", () => client().reportDeploymentProgress({ progressPercent: 10 }, asAgent()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  ...badNames.slice(0, 3).map((name) =>
    refused(`ReportDeploymentProgress of ${JSON.stringify(name)}`, () => client().reportDeploymentProgress({ name, progressPercent: 10 }, asAgent()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  ),
  ...[101, -1, 1000, -2147483648].map((progressPercent) =>
    refused(
      `ReportDeploymentProgress of ${progressPercent}%`,
      () => client().reportDeploymentProgress({ name: target.name, progressPercent }, asAgent()),
      INVALID_ARGUMENT,
      "PROGRESS_OUT_OF_RANGE",
      ["progress_percent"],
    ),
  ),
  ...["not a url", "javascript:alert(1)", "ftp://logs.example.com/1", "file:///etc/passwd", "/relative/logs", `https://logs.example.com/${"a".repeat(2048)}`].map((logUrl) =>
    refused(
      `ReportDeploymentProgress with log_url ${JSON.stringify(logUrl.slice(0, 30))}`,
      () => client().reportDeploymentProgress({ name: target.name, progressPercent: 90, logUrl }, asAgent()),
      INVALID_ARGUMENT,
      "INVALID_LOG_URL",
      ["log_url"],
    ),
  ),
  // Open enums decode unknown numbers as they are: a state the contract does not define is a bad argument, not a transition.
  refused("ReportDeploymentProgress of state 99, which DeploymentState does not define", () => client().reportDeploymentProgress({ name: target.name, state: 99 as State }, asAgent()), INVALID_ARGUMENT, "INVALID_STATE", ["state"]),
  refused("ReportDeploymentProgress with a status_message over 1000 characters", () => client().reportDeploymentProgress({ name: target.name, statusMessage: "s".repeat(1001) }, asAgent()), INVALID_ARGUMENT, "INVALID_STATUS_MESSAGE", ["status_message"]),
  refused("ReportDeploymentProgress of a deployment that does not exist", () => client().reportDeploymentProgress({ name: missing, progressPercent: 10 }, asAgent()), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),
  refused(
    "ReportDeploymentProgress with invalid UTF-8 in status_message",
    () => raw(rawUnaryCall(stack.deployments.address, methodPath(DeploymentService.method.reportDeploymentProgress), reportBytes(target.name, invalidUtf8), { authorization: `Bearer ${agentKey}` })),
    INVALID_ARGUMENT,
    "MALFORMED_REQUEST",
  ),

  // CancelDeployment
  refused("CancelDeployment without name", () => client().cancelDeployment({}, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  refused("CancelDeployment of a name of the wrong form", () => client().cancelDeployment({ name: "deployment/abc" }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("CancelDeployment with a stale etag", () => client().cancelDeployment({ name: target.name, etag: staleEtag }, asAdmin()), ABORTED, "ETAG_MISMATCH"),
  refused("CancelDeployment with an etag it never issued", () => client().cancelDeployment({ name: target.name, etag: 'W/"abc"' }, asAdmin()), ABORTED, "ETAG_MISMATCH"),
  refused("CancelDeployment with a reason over 1000 characters", () => client().cancelDeployment({ name: target.name, reason: "r".repeat(1001) }, asAdmin()), INVALID_ARGUMENT, "INVALID_REASON", ["reason"]),
  refused("CancelDeployment of a deployment that does not exist", () => client().cancelDeployment({ name: missing }, asAdmin()), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),

  // RollbackDeployment
  refused("RollbackDeployment without name", () => client().rollbackDeployment({}, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  refused("RollbackDeployment of a name of the wrong form", () => client().rollbackDeployment({ name: "users/abc" }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("RollbackDeployment to a malformed target_version", () => client().rollbackDeployment({ name: rollbackable.name, targetVersion: "1.0 beta" }, asAdmin()), INVALID_ARGUMENT, "INVALID_VERSION", ["target_version"]),
  refused("RollbackDeployment with a malformed request_id", () => client().rollbackDeployment({ name: rollbackable.name, requestId: "has space" }, asAdmin()), INVALID_ARGUMENT, "INVALID_REQUEST_ID", ["request_id"]),
  refused("RollbackDeployment with a description over 1000 characters", () => client().rollbackDeployment({ name: rollbackable.name, description: "d".repeat(1001) }, asAdmin()), INVALID_ARGUMENT, "INVALID_DESCRIPTION", ["description"]),
  refused("RollbackDeployment to a version that never succeeded", () => client().rollbackDeployment({ name: rollbackable.name, targetVersion: "9.9.9" }, asAdmin()), FAILED_PRECONDITION, "NO_ROLLBACK_TARGET"),
  refused("RollbackDeployment of a deployment that does not exist", () => client().rollbackDeployment({ name: missing }, asAdmin()), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),

  // ListDeploymentEvents
  refused("ListDeploymentEvents without parent", () => client().listDeploymentEvents({}, asAdmin()), INVALID_ARGUMENT, "FIELD_REQUIRED", ["parent"]),
  refused("ListDeploymentEvents of a parent of the wrong form", () => client().listDeploymentEvents({ parent: `${target.name}/events` }, asAdmin()), INVALID_ARGUMENT, "INVALID_NAME", ["parent"]),
  refused("ListDeploymentEvents with page_size -1", () => client().listDeploymentEvents({ parent: target.name, pageSize: -1 }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_SIZE", ["page_size"]),
  refused(
    "ListDeploymentEvents with a page token issued for another deployment",
    async () => {
      const first = await client().listDeploymentEvents({ parent: rollbackable.name, pageSize: 1 }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listDeploymentEvents({ parent: target.name, pageSize: 1, pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused(
    "ListDeploymentEvents with a page token issued by ListDeployments",
    async () => {
      const first = await client().listDeployments({ pageSize: 1 }, asAdmin());
      expect(first.nextPageToken).not.toBe("");
      return client().listDeploymentEvents({ parent: target.name, pageToken: first.nextPageToken }, asAdmin());
    },
    INVALID_ARGUMENT,
    "INVALID_PAGE_TOKEN",
    ["page_token"],
  ),
  refused("ListDeploymentEvents with the page token \"garbage\"", () => client().listDeploymentEvents({ parent: target.name, pageToken: "garbage" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListDeploymentEvents with a forged page token", () => client().listDeploymentEvents({ parent: target.name, pageToken: forgedPageToken(1, { parent: target.name }) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListDeploymentEvents of a deployment that does not exist", () => client().listDeploymentEvents({ parent: missing }, asAdmin()), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),

  // Page tokens and filters of ListDeployments and WatchDeployments
  refused("ListDeployments with the page token \"garbage\"", () => client().listDeployments({ pageToken: "garbage" }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListDeployments with a forged page token at the year 99999", () => client().listDeployments({ pageToken: forgedPageToken({ value: year99999, id: "x" }, { filter: "", orderBy: "" }) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListDeployments with a page token over 2048 characters", () => client().listDeployments({ pageToken: "A".repeat(2049) }, asAdmin()), INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", ["page_token"]),
  refused("ListDeployments filtered with 1,500 AND terms", () => client().listDeployments({ filter: andTerms('service = "s"', 1500) }, asAdmin()), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),
  refused("ListDeployments filtered with 33 comparisons", () => client().listDeployments({ filter: andTerms("state = DEPLOYMENT_STATE_PENDING", 33) }, asAdmin()), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),
  refused("ListDeployments filtered on a time a zone offset carries past 9999", () => client().listDeployments({ filter: 'create_time < "9999-12-31T23:00:00-05:00"' }, asAdmin()), INVALID_ARGUMENT, "INVALID_FILTER", ["filter"]),
  refused("WatchDeployments filtered with 1,500 AND terms", () => firstOf(client().watchDeployments({ filter: andTerms('service = "s"', 1500) }, asAdmin())), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),
  refused("WatchDeployments filtered with 33 comparisons", () => firstOf(client().watchDeployments({ filter: andTerms("state = DEPLOYMENT_STATE_PENDING", 33) }, asAdmin())), INVALID_ARGUMENT, "FILTER_TOO_COMPLEX", ["filter"]),

  // Every field is bounded, whatever the method's own rules say
  refused("CreateDeployment with a 1 MB description", () => create({ ...good, description: "d".repeat(1024 * 1024) }), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["deployment.description"]),
  refused("CreateDeployment with 1,001 labels", () => create({ ...good, labels: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`l${i}`, "v"])) }), INVALID_ARGUMENT, "TOO_MANY_ELEMENTS", ["deployment.labels"]),
  refused("CreateDeployment with a label key over 4096 bytes", () => create({ ...good, labels: { ["k".repeat(4097)]: "v" } }), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["deployment.labels"]),
  refused("CreateDeployment with a request_id over 4096 bytes", () => create(good, { requestId: "r".repeat(4097) }), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["request_id"]),
  refused("ReportDeploymentProgress with a 1 MB status_message", () => client().reportDeploymentProgress({ name: target.name, statusMessage: "s".repeat(1024 * 1024) }, asAgent()), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["status_message"]),
  refused("GetDeployment of a 1 MB name", () => client().getDeployment({ name: `deployments/${"n".repeat(1024 * 1024)}` }, asAdmin()), INVALID_ARGUMENT, "FIELD_TOO_LONG", ["name"]),

  // WatchDeployment
  refused("WatchDeployment without name", () => firstOf(client().watchDeployment({}, asAdmin())), INVALID_ARGUMENT, "FIELD_REQUIRED", ["name"]),
  refused("WatchDeployment of a name of the wrong form", () => firstOf(client().watchDeployment({ name: "deployments/a/b" }, asAdmin())), INVALID_ARGUMENT, "INVALID_NAME", ["name"]),
  refused("WatchDeployment with resume_revision -1", () => firstOf(client().watchDeployment({ name: target.name, resumeRevision: -1n }, asAdmin())), INVALID_ARGUMENT, "INVALID_REVISION", ["resume_revision"]),
  refused("WatchDeployment of a deployment that does not exist", () => firstOf(client().watchDeployment({ name: missing }, asAdmin())), NOT_FOUND, "DEPLOYMENT_NOT_FOUND"),
];

beforeAll(async () => {
  stack = await startTestStack();
  adminToken = await stack.users.login(admin.email, admin.password);
  agentKey = (await createTestUser(stack.users, adminToken, Role.AGENT, "agent")).credential;
  const created = await createDeployment(driver, uniqueService("bad input target"), "staging");
  staleEtag = created.etag;
  target = await driveTo(driver, created, State.IN_PROGRESS);
  const service = uniqueService("bad input rollback");
  await driveTo(driver, await createDeployment(driver, service, "staging", "1.0.0"), State.SUCCEEDED);
  rollbackable = await driveTo(driver, await createDeployment(driver, service, "staging", "2.0.0"), State.FAILED);
  await deploymentIn(driver, State.PENDING, "bad input production", "production");
});
afterAll(() => stack?.stop());

describe("bad requests are refused with a stable reason and change nothing", () => {
  it("the target's etag moved on, so the stale one is real", () => {
    expect(staleEtag).not.toBe("");
    expect(target.etag).not.toBe(staleEtag);
  });

  it.each(badInputs)("$title", async (bad) => {
    await expectRefusedChangingNothing(bad, storedState);
  });
});

describe("the same requests, made well, are accepted", () => {
  it("a hand-encoded CreateDeployment with valid UTF-8 creates it, so the raw encoding above is sound", async () => {
    const service = uniqueService("raw create");
    const outcome = await rawUnaryCall(stack.deployments.address, methodPath(DeploymentService.method.createDeployment), createBytes(utf8(service)), {
      authorization: `Bearer ${adminToken}`,
    });
    expect("response" in outcome ? "ok" : outcome).toBe("ok");
    const { deployments } = await client().listDeployments({ filter: `service = "${service}"` }, asAdmin());
    expect(deployments.map((d) => d.service)).toEqual([service]);
  });

  it("a hand-encoded report with valid UTF-8 records its status_message, so the raw encoding above is sound", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "raw report");
    const body = reportBytes(deployment.name, utf8("déployé ✓"));
    const outcome = await rawUnaryCall(stack.deployments.address, methodPath(DeploymentService.method.reportDeploymentProgress), body, { authorization: `Bearer ${agentKey}` });
    expect("response" in outcome ? "ok" : outcome).toBe("ok");
    expect((await recordOf(driver, deployment.name)).deployment.statusMessage).toBe("déployé ✓");
  });

  it("the channel still works after a 5 MB request was refused", async () => {
    const { deployment } = await client().getDeployment({ name: target.name }, asAdmin());
    expect(deployment).toEqual(target);
  });

  it("the current etag cancels where the stale one was refused", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "etag cancel");
    const { deployment: cancelled } = await client().cancelDeployment({ name: deployment.name, etag: deployment.etag }, asAdmin());
    expect(cancelled?.state).toBe(State.CANCELLING);
  });

  it("SQL in a filter value is only a string: it matches nothing and the table is still there", async () => {
    const before = await client().listDeployments({ pageSize: 1000 }, asAdmin());
    const { deployments, totalSize } = await client().listDeployments({ filter: `service = "x'; DROP TABLE deployments; --"` }, asAdmin());
    expect({ deployments, totalSize }).toEqual({ deployments: [], totalSize: 0 });
    expect(await client().listDeployments({ pageSize: 1000 }, asAdmin())).toEqual(before);
  });

  it("CreateDeployment ignores OUTPUT_ONLY and IDENTIFIER fields the caller sets", async () => {
    const service = uniqueService("output only");
    const { deployment } = await client().createDeployment(
      {
        deployment: {
          ...good,
          service,
          name: "deployments/chosen-by-caller",
          state: State.SUCCEEDED,
          progressPercent: 100,
          statusMessage: "done already",
          logUrl: "https://logs.example.com/x",
          creator: "users/someone-else",
          rollbackOf: target.name,
          revision: 999n,
          etag: "v42",
        },
      },
      asAdmin(),
    );
    const me = (await stack.users.client.getCurrentUser({}, asAdmin())).user!.name;
    expect(deployment).toMatchObject({ state: State.PENDING, progressPercent: 0, statusMessage: "", logUrl: "", creator: me, rollbackOf: "", etag: "v1" });
    expect(deployment?.name).not.toBe("deployments/chosen-by-caller");
    expect(deployment?.revision).not.toBe(999n);
  });

  it("page_size above 1000 is served as 1000, not refused", async () => {
    const { deployments, totalSize } = await client().listDeployments({ pageSize: 100_000 }, asAdmin());
    expect(deployments).toHaveLength(totalSize);
  });

  it("progress of exactly 0 and 100 is in range", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "edge progress");
    await client().reportDeploymentProgress({ name: deployment.name, progressPercent: 0, statusMessage: "starting" }, asAgent());
    const { deployment: full } = await client().reportDeploymentProgress({ name: deployment.name, progressPercent: 100 }, asAgent());
    expect(full?.progressPercent).toBe(100);
  });
});
