import { create, getOption, type DescMethod } from "@bufbuild/protobuf";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb.js";
import { http } from "../../gen/google/api/annotations_pb.js";
import { DeploymentState as State } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DeploymentService } from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { accessPolicy } from "../../services/kit/auth/access-policy.js";
import { accessCells, expectAccess, onlyReads, type AccessCell } from "../support/access-table.js";
import { callByDescriptor, outcomeOf } from "../support/call-by-descriptor.js";
import { startTestStack, type TestStack } from "../support/deployments-service.js";
import { createDeployment, deploymentIn, driveTo, recordOf, uniqueService, type DeploymentDriver } from "../support/deployment-states.js";
import { expectGrpcError, failureOf } from "../support/grpc-errors.js";
import { createTestUser, type TestUser } from "../support/test-users.js";
import { admin } from "../support/users-service.js";

// The role × method table below is generated from the descriptors: each
// method's declared access policy, and what each role grants. Nothing is
// listed by hand. Every deployment the table acts on is in "staging", so the
// deployer limited to staging is expected to do what any deployer does; what
// it may not do elsewhere is checked after the table.

const signedInRoles = [Role.ADMIN, Role.DEPLOYER, Role.VIEWER, Role.AGENT] as const;

/** A caller: nobody, or a signed-in user of one role, perhaps limited to some environments. */
interface Caller {
  label: string;
  role: Role | undefined;
  environments: string[];
}

const stagingDeployer: Caller = { label: "ROLE_DEPLOYER limited to staging", role: Role.DEPLOYER, environments: ["staging"] };

const callers: Caller[] = [
  { label: "anonymous", role: undefined, environments: [] },
  ...signedInRoles.map((role) => ({ label: `ROLE_${Role[role]}`, role, environments: [] })),
  stagingDeployer,
];

/** The request fields a method's HTTP path binds to a resource name (`{name=deployments/*}`). */
function resourceFieldsOf(method: DescMethod): string[] {
  const rule = getOption(method, http);
  const template = typeof rule.pattern.value === "string" ? rule.pattern.value : "";
  return [...template.matchAll(/\{([\w.]+)(?:=[^}]*)?\}/g)].map((match) => match[1]!);
}

/** REQUIRED request fields that are not resource names: how a minimal valid request fills them. */
const requiredFillers: Record<string, (target: Target) => unknown> = {
  deployment: (target) => ({ service: uniqueService("matrix create"), version: "1.0.0", environment: target.environment }),
};

/** The deployment a call acts on. */
interface Target {
  name: string;
  environment: string;
}

/** A minimal valid request of a method, naming the target (or creating in its environment). */
function requestFor(method: DescMethod, target: Target) {
  const init: Record<string, unknown> = {};
  const bound = resourceFieldsOf(method);
  for (const path of bound) {
    const field = method.input.fields.find((f) => f.name === path);
    if (!field) throw new Error(`${method.name}: its path binds ${path}, which its request does not have`);
    init[field.localName] = target.name;
  }
  for (const field of method.input.fields) {
    if (bound.includes(field.name) || !getOption(field, field_behavior).includes(FieldBehavior.REQUIRED)) continue;
    const fill = requiredFillers[field.name];
    if (!fill) throw new Error(`${method.name}: no filler for the required field ${field.name}`);
    init[field.localName] = fill(target);
  }
  return create(method.input, init);
}

type Cell = AccessCell<Caller>;

const cells: Cell[] = accessCells(callers, DeploymentService.methods);

let stack: TestStack;
let rootToken: string;
let rootAgentKey: string;
const signedIn = new Map<string, TestUser>();
let sharedTarget: Target;

const client = () => stack.deployments.client;
const driver: DeploymentDriver = {
  client,
  asUser: () => stack.auth(rootToken),
  asAgent: () => stack.auth(rootAgentKey),
};

function credentialsOf(caller: Caller) {
  return caller.role === undefined ? {} : stack.auth(signedIn.get(caller.label)!.credential);
}

/** A new PENDING deployment in staging, for one cell to act on (and perhaps change). */
async function newTarget(label: string): Promise<Target> {
  const deployment = await createDeployment(driver, uniqueService(label), "staging");
  return { name: deployment.name, environment: deployment.environment };
}

/** What an admin sees that a refused call could have changed: every deployment, and the target's history. */
async function snapshotOf(target: Target) {
  const { deployments, totalSize } = await client().listDeployments({ pageSize: 1000 }, driver.asUser());
  const history = target.name.endsWith("/does-not-exist") ? [] : (await recordOf(driver, target.name)).events;
  return { deployments, totalSize, history };
}

/** Calls a method by its descriptor; of a stream, only the first message is read before the call is cancelled. */
function call(method: DescMethod, request: ReturnType<typeof requestFor>, caller: Caller) {
  return callByDescriptor(client(), method, request, credentialsOf(caller), { maxMessages: 1 });
}

function check(cell: Cell, target: Target) {
  return expectAccess(cell.expected, () => call(cell.method, requestFor(cell.method, target), cell.caller), () => snapshotOf(target));
}

beforeAll(async () => {
  stack = await startTestStack();
  rootToken = await stack.users.login(admin.email, admin.password);
  rootAgentKey = (await createTestUser(stack.users, rootToken, Role.AGENT, "driver agent")).credential;
  for (const caller of callers) {
    if (caller.role === undefined) continue;
    signedIn.set(caller.label, await createTestUser(stack.users, rootToken, caller.role, `caller ${caller.label}`, { environments: caller.environments }));
  }
  sharedTarget = await newTarget("shared");
});
afterAll(() => stack?.stop());

describe("the DeploymentService access table, generated from the descriptors", () => {
  it("every DeploymentService method declares an access policy", () => {
    const undeclared = DeploymentService.methods.filter((m) => accessPolicy(m)?.rule.case === undefined).map((m) => m.name);
    expect(undeclared).toEqual([]);
  });

  it("the callers are who they claim: people hold access tokens, the agent an API key, the limited deployer only staging", async () => {
    for (const caller of callers.filter((c) => c.role !== undefined)) {
      const user = signedIn.get(caller.label)!;
      expect(user.user.role, caller.label).toBe(caller.role);
      expect(user.user.environments, caller.label).toEqual(caller.environments);
      expect(user.credential.startsWith("lpk_"), caller.label).toBe(caller.role === Role.AGENT);
    }
  });

  it("grants something to every role and withholds something from every role but admin", () => {
    for (const caller of callers.filter((c) => c.role !== undefined)) {
      const mine = cells.filter((c) => c.caller === caller);
      expect(mine.some((c) => c.expected === "allowed"), caller.label).toBe(true);
      expect(mine.some((c) => c.expected === "denied"), caller.label).toBe(caller.role !== Role.ADMIN);
    }
  });

  it.each(cells)("$title", async (cell) => {
    await check(cell, onlyReads(cell.method) ? sharedTarget : await newTarget(`${cell.caller.label} ${cell.method.name}`));
  });
});

describe("permission is checked before existence", () => {
  const missing: Target = { name: "deployments/does-not-exist", environment: "staging" };
  const refusals = cells.filter((c) => c.expected !== "allowed" && resourceFieldsOf(c.method).length > 0);

  it("the table has such cells for every method naming a deployment", () => {
    const named = DeploymentService.methods.filter((m) => resourceFieldsOf(m).length > 0);
    expect(named.length).toBeGreaterThan(0);
    for (const method of named) expect(refusals.some((c) => c.method === method), method.name).toBe(true);
  });

  it.each(refusals.map((cell) => ({ ...cell, title: `${cell.caller.label} → ${cell.method.name} of a deployment that does not exist is ${cell.expected}, not NOT_FOUND` })))(
    "$title",
    async (cell) => {
      await check(cell, missing);
    },
  );

  it("a viewer cancelling a deployment that does not exist gets PERMISSION_DENIED, not NOT_FOUND", async () => {
    await expectGrpcError(
      client().cancelDeployment({ name: missing.name }, stack.auth(signedIn.get("ROLE_VIEWER")!.credential)),
      Status.PERMISSION_DENIED,
      "PERMISSION_DENIED",
    );
  });

  it("while an admin cancelling it gets NOT_FOUND DEPLOYMENT_NOT_FOUND", async () => {
    await expectGrpcError(client().cancelDeployment({ name: missing.name }, driver.asUser()), Status.NOT_FOUND, "DEPLOYMENT_NOT_FOUND");
  });
});

describe("a deployer limited to staging", () => {
  const asLimited = () => stack.auth(signedIn.get(stagingDeployer.label)!.credential);
  const asDeployer = () => stack.auth(signedIn.get("ROLE_DEPLOYER")!.credential);
  const everything = async () => (await client().listDeployments({ pageSize: 1000 }, driver.asUser())).deployments;

  /** A service with a success and then a failure in `environment`: something to roll back. */
  async function failedAfterSuccess(environment: string) {
    const service = uniqueService(`rollback ${environment}`);
    const good = await driveTo(driver, await createDeployment(driver, service, environment, "1.0.0"), State.SUCCEEDED);
    const bad = await driveTo(driver, await createDeployment(driver, service, environment, "2.0.0"), State.FAILED);
    return { good, bad };
  }

  it("creates in staging", async () => {
    const { deployment } = await client().createDeployment({ deployment: { service: uniqueService("limited create"), version: "1", environment: "staging" } }, asLimited());
    expect(deployment).toMatchObject({ state: State.PENDING, environment: "staging", creator: signedIn.get(stagingDeployer.label)!.user.name });
  });

  it("cannot create in production: PERMISSION_DENIED ENVIRONMENT_NOT_ALLOWED, nothing created", async () => {
    const before = await everything();
    const failure = await expectGrpcError(
      client().createDeployment({ deployment: { service: uniqueService("limited prod"), version: "1", environment: "production" } }, asLimited()),
      Status.PERMISSION_DENIED,
      "ENVIRONMENT_NOT_ALLOWED",
    );
    expect(failure.metadata.environment).toBe("production");
    expect(await everything()).toEqual(before);
  });

  it("while an unrestricted deployer creates in production", async () => {
    const { deployment } = await client().createDeployment({ deployment: { service: uniqueService("deployer prod"), version: "1", environment: "production" } }, asDeployer());
    expect(deployment?.environment).toBe("production");
  });

  it("cancels a staging deployment", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "limited cancel staging", "staging");
    const { deployment: cancelled } = await client().cancelDeployment({ name: deployment.name }, asLimited());
    expect(cancelled?.state).toBe(State.CANCELLING);
  });

  it("cannot cancel an existing production deployment: PERMISSION_DENIED ENVIRONMENT_NOT_ALLOWED, unchanged", async () => {
    const deployment = await deploymentIn(driver, State.IN_PROGRESS, "limited cancel prod", "production");
    const before = await recordOf(driver, deployment.name);
    await expectGrpcError(client().cancelDeployment({ name: deployment.name }, asLimited()), Status.PERMISSION_DENIED, "ENVIRONMENT_NOT_ALLOWED");
    expect(await recordOf(driver, deployment.name)).toEqual(before);
  });

  it("cannot cancel a production deployment whatever etag it sends: PERMISSION_DENIED ENVIRONMENT_NOT_ALLOWED, never ABORTED (which would reveal its etag)", async () => {
    const created = await createDeployment(driver, uniqueService("limited stale etag"), "production");
    const deployment = await driveTo(driver, created, State.IN_PROGRESS);
    const before = await recordOf(driver, deployment.name);
    for (const etag of [created.etag, 'W/"never-issued"', deployment.etag]) {
      await expectGrpcError(client().cancelDeployment({ name: deployment.name, etag }, asLimited()), Status.PERMISSION_DENIED, "ENVIRONMENT_NOT_ALLOWED");
    }
    expect(await recordOf(driver, deployment.name)).toEqual(before);
  });

  it("rolls back in staging", async () => {
    const { good, bad } = await failedAfterSuccess("staging");
    const { deployment } = await client().rollbackDeployment({ name: bad.name }, asLimited());
    expect(deployment).toMatchObject({ version: good.version, environment: "staging", rollbackOf: bad.name, state: State.PENDING });
  });

  it("cannot roll back in production: PERMISSION_DENIED ENVIRONMENT_NOT_ALLOWED, nothing created", async () => {
    const { bad } = await failedAfterSuccess("production");
    const before = await everything();
    await expectGrpcError(client().rollbackDeployment({ name: bad.name }, asLimited()), Status.PERMISSION_DENIED, "ENVIRONMENT_NOT_ALLOWED");
    expect(await everything()).toEqual(before);
    // The same rollback is possible, so the refusal above was about the environment.
    const { deployment } = await client().rollbackDeployment({ name: bad.name }, driver.asUser());
    expect(deployment?.rollbackOf).toBe(bad.name);
  });

  describe("still reads production", () => {
    const reads = DeploymentService.methods.filter(onlyReads);

    it("there are reads to check", () => {
      expect(reads.length).toBeGreaterThan(0);
    });

    it.each(reads.map((method) => ({ method, name: method.name })))("$name of a production deployment succeeds", async ({ method }) => {
      const deployment = await deploymentIn(driver, State.IN_PROGRESS, `limited read ${method.name}`, "production");
      const responses = await call(method, requestFor(method, { name: deployment.name, environment: "production" }), stagingDeployer);
      expect(responses).toHaveLength(1);
    });

    it("ListDeployments filtered on production shows production deployments", async () => {
      const deployment = await deploymentIn(driver, State.PENDING, "limited list", "production");
      const { deployments } = await client().listDeployments({ filter: 'environment = "production"', pageSize: 1000 }, asLimited());
      expect(deployments.map((d) => d.name)).toContain(deployment.name);
    });
  });
});

describe("an API key verified remotely, with LAUNCHPAD_API_KEY_CACHE_TTL=1s", () => {
  const ttlMs = 1_000;
  let ttlStack: TestStack;
  let ttlAdminToken: string;

  beforeAll(async () => {
    ttlStack = await startTestStack({ deployments: { LAUNCHPAD_API_KEY_CACHE_TTL: `${ttlMs / 1000}s` } });
    ttlAdminToken = await ttlStack.users.login(admin.email, admin.password);
  });
  afterAll(() => ttlStack?.stop());

  it("a revoked key may keep working for at most the TTL (right after revocation: works or not), and is refused with UNAUTHENTICATED once the TTL has passed", async () => {
    const agent = await createTestUser(ttlStack.users, ttlAdminToken, Role.AGENT, "revoked agent");
    const asAgent = ttlStack.auth(agent.credential);
    const list = () => ttlStack.deployments.client.listDeployments({}, asAgent);
    await list(); // verified with the users service, and now cached

    await ttlStack.users.client.deleteApiKey({ name: agent.apiKeyName }, ttlStack.auth(ttlAdminToken));
    const revokedAt = Date.now();
    // The users service itself refuses it at once.
    await expectGrpcError(ttlStack.users.client.authenticateApiKey({ apiKey: agent.credential }), Status.UNAUTHENTICATED);

    const rightAfter = await outcomeOf(list());
    if (rightAfter !== "ok") expect({ code: rightAfter.code, reason: rightAfter.reason }).toEqual({ code: Status.UNAUTHENTICATED, reason: "INVALID_API_KEY" });

    // Wait out the TTL (from the revocation, which came after the last successful verification), with a margin.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, revokedAt + ttlMs + 500 - Date.now())));
    const failure = await failureOf(list());
    expect({ code: failure.code, reason: failure.reason }).toEqual({ code: Status.UNAUTHENTICATED, reason: "INVALID_API_KEY" });
    // Refusals are not cached into acceptance: it stays refused.
    await expectGrpcError(list(), Status.UNAUTHENTICATED, "INVALID_API_KEY");
  });

  it("a key the users service never issued is refused with UNAUTHENTICATED INVALID_API_KEY", async () => {
    const asNobody = ttlStack.auth(`lpk_0123456789abcdef_${"a".repeat(43)}`);
    await expectGrpcError(ttlStack.deployments.client.listDeployments({}, asNobody), Status.UNAUTHENTICATED, "INVALID_API_KEY");
  });
});
