import { create, getOption, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http } from "../../gen/google/api/annotations_pb.js";
import { Role } from "../../gen/launchpad/user/v1/user_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { accessPolicy } from "../../services/kit/auth/access-policy.js";
import { accessCells, expectAccess, expectedFor, onlyReads, type AccessCell } from "../support/access-table.js";
import { callByDescriptor } from "../support/call-by-descriptor.js";
import { expectGrpcError } from "../support/grpc-errors.js";
import { createTestUser, type TestUser } from "../support/test-users.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

// The whole table below is generated from the descriptors: each method's
// declared access policy, and what each role grants. Nothing is listed by hand.

const signedInRoles = [Role.ADMIN, Role.DEPLOYER, Role.VIEWER, Role.AGENT] as const;

/** A caller: nobody, or a signed-in user of one role. */
interface Caller {
  label: string;
  role: Role | undefined;
}

const callers: Caller[] = [
  { label: "anonymous", role: undefined },
  ...signedInRoles.map((role) => ({ label: `ROLE_${Role[role]}`, role })),
];

/** A request field holding a resource name, and the form of that name. */
interface ResourceField {
  path: string;
  isApiKey: boolean;
}

/**
 * The resource fields of a method: the variables of its google.api.http
 * path template (`{name=users/*}/apiKeys`), plus its policy's self_field.
 */
function resourceFieldsOf(method: DescMethod): ResourceField[] {
  const rule = getOption(method, http);
  const template = typeof rule.pattern.value === "string" ? rule.pattern.value : "";
  const fields = new Map<string, ResourceField>();
  for (const match of template.matchAll(/\{([\w.]+)(?:=([^}]*))?\}/g)) {
    fields.set(match[1]!, { path: match[1]!, isApiKey: (match[2] ?? "").includes("/apiKeys/") });
  }
  const selfField = accessPolicy(method)?.selfField ?? "";
  if (selfField !== "" && !fields.has(selfField)) fields.set(selfField, { path: selfField, isApiKey: false });
  return [...fields.values()];
}

/** Public methods take credentials instead of resources: these request fields, filled with the target's. */
const credentialFields: Record<string, (target: Target) => string> = {
  email: (t) => t.email,
  password: (t) => t.password,
  refresh_token: (t) => t.refreshToken,
  api_key: (t) => t.apiKeySecret,
};

/** The user a call acts on, and the things of theirs a request may name. */
interface Target {
  user: string;
  email: string;
  password: string;
  apiKeyName: string;
  apiKeySecret: string;
  refreshToken: string;
}

/** Sets a dotted path of proto field names in a message init object. */
function setPath(init: Record<string, unknown>, schema: DescMessage, path: string, value: string): void {
  const [name, ...rest] = path.split(".");
  const field = schema.fields.find((f) => f.name === name);
  if (!field) throw new Error(`${schema.typeName} has no field ${name}`);
  if (rest.length === 0) {
    init[field.localName] = value;
    return;
  }
  if (field.fieldKind !== "message") throw new Error(`${schema.typeName}.${name} is not a message`);
  const child = (init[field.localName] ??= {}) as Record<string, unknown>;
  setPath(child, field.message, rest.join("."), value);
}

/** A minimal request of a method that names the target's resources (or carries its credentials). */
function requestFor(method: DescMethod, target: Target) {
  const init: Record<string, unknown> = {};
  for (const field of resourceFieldsOf(method)) {
    setPath(init, method.input, field.path, field.isApiKey ? target.apiKeyName : target.user);
  }
  if (accessPolicy(method)?.rule.case === "public") {
    for (const field of method.input.fields) {
      const fill = credentialFields[field.name];
      if (fill && field.fieldKind === "scalar") init[field.localName] = fill(target);
    }
  }
  return create(method.input, init);
}

type Cell = AccessCell<Caller>;

const actingOnAnother: Cell[] = accessCells(callers, UserService.methods);

const actingOnThemselves: Cell[] = callers
  .filter((caller) => caller.role !== undefined)
  .flatMap((caller) =>
    UserService.methods
      .filter((method) => (accessPolicy(method)?.selfField ?? "") !== "")
      .map((method) => {
        const expected = expectedFor(method, caller.role, "own");
        return { title: `${caller.label} → ${method.name} on their own resource is ${expected}`, caller, method, expected };
      }),
  );

let service: TestUsersService;
let rootToken: string;
const signedIn = new Map<Role, TestUser>();
let sharedTarget: Target;

/** A person's resources as a target: their user, their sign-in, and a new API key of theirs named `keyName`. */
async function targetOf(person: TestUser, keyName: string): Promise<Target> {
  const key = await service.client.createApiKey({ parent: person.user.name, apiKey: { displayName: keyName } }, service.auth(rootToken));
  return {
    user: person.user.name,
    email: person.user.email,
    password: person.password,
    apiKeyName: key.apiKey!.name,
    apiKeySecret: key.secret,
    refreshToken: person.refreshToken,
  };
}

/** A new person with an API key and a live sign-in, for one cell to act on (and perhaps destroy). */
async function newTarget(label: string): Promise<Target> {
  return targetOf(await createTestUser(service, rootToken, Role.VIEWER, `target ${label}`), "target key");
}

/** The caller's own resources; a fresh key of theirs, so revoking it never revokes the credential they call with. */
function ownTarget(caller: TestUser): Promise<Target> {
  return targetOf(caller, "own key");
}

function credentialsOf(caller: Caller) {
  return caller.role === undefined ? {} : service.auth(signedIn.get(caller.role)!.credential);
}

/** What an admin sees of the target: it must not change when a call is refused. */
async function snapshotOf(target: Target) {
  const asRoot = service.auth(rootToken);
  const { user } = await service.client.getUser({ name: target.user }, asRoot);
  const { apiKeys } = await service.client.listApiKeys({ parent: target.user, showRevoked: true }, asRoot);
  return { user, apiKeys };
}

function check(cell: Cell, target: Target) {
  return expectAccess(
    cell.expected,
    // One message is enough to tell a refusal; WatchIdentityChanges never ends.
    () => callByDescriptor(service.client, cell.method, requestFor(cell.method, target), credentialsOf(cell.caller), { maxMessages: 1 }),
    () => snapshotOf(target),
  );
}

beforeAll(async () => {
  service = await startTestUsers();
  rootToken = await service.login(admin.email, admin.password);
  for (const role of signedInRoles) signedIn.set(role, await createTestUser(service, rootToken, role, `caller ${Role[role]}`));
  sharedTarget = await newTarget("shared");
});
afterAll(() => service?.stop());

describe("the UserService access table, generated from the descriptors", () => {
  it("every UserService method declares an access policy", () => {
    const undeclared = UserService.methods.filter((m) => accessPolicy(m)?.rule.case === undefined).map((m) => m.name);
    expect(undeclared).toEqual([]);
  });

  it("every self_field names a string field of the request that the method's HTTP path binds", () => {
    for (const method of UserService.methods) {
      const selfField = accessPolicy(method)?.selfField ?? "";
      if (selfField === "") continue;
      const template = getOption(method, http).pattern.value;
      expect(typeof template === "string" && template.includes(`{${selfField}=`), `${method.name}: ${selfField}`).toBe(true);
    }
  });

  it("grants something to every role and withholds something from every role but admin", () => {
    for (const role of signedInRoles) {
      const cells = actingOnAnother.filter((c) => c.caller.role === role);
      expect(cells.some((c) => c.expected === "allowed"), Role[role]).toBe(true);
      expect(cells.some((c) => c.expected === "denied"), Role[role]).toBe(role !== Role.ADMIN);
    }
  });
});

describe("acting on another user's resource", () => {
  it.each(actingOnAnother)("$title", async (cell) => {
    await check(cell, onlyReads(cell.method) ? sharedTarget : await newTarget(`${cell.caller.label} ${cell.method.name}`));
  });
});

describe("acting on one's own resource", () => {
  it.each(actingOnThemselves)("$title", async (cell) => {
    await check(cell, await ownTarget(signedIn.get(cell.caller.role!)!));
  });
});

describe.each(signedInRoles.filter((role) => role !== Role.ADMIN).map((role) => ({ role, label: `ROLE_${Role[role]}` })))(
  "$label editing their own user",
  ({ role }) => {
    it.each([["role"], ["*"]])("cannot change their own role with update_mask %s (PERMISSION_DENIED ROLE_CHANGE_NOT_ALLOWED)", async (path) => {
      const me = signedIn.get(role)!;
      const asMe = service.auth(me.credential);
      const { user: before } = await service.client.getCurrentUser({}, asMe);
      await expectGrpcError(
        service.client.updateUser({ user: { name: me.user.name, role: Role.ADMIN, etag: before!.etag }, updateMask: { paths: [path] } }, asMe),
        Status.PERMISSION_DENIED,
        "ROLE_CHANGE_NOT_ALLOWED",
      );
      const { user: after } = await service.client.getCurrentUser({}, asMe);
      expect(after).toEqual(before);
    });

    it("can change their own display_name, and nothing else changes", async () => {
      const me = signedIn.get(role)!;
      const asMe = service.auth(me.credential);
      const { user: before } = await service.client.getCurrentUser({}, asMe);
      const { user: updated } = await service.client.updateUser(
        { user: { name: me.user.name, displayName: `renamed ${Role[role]}`, role: Role.ADMIN }, updateMask: { paths: ["display_name"] } },
        asMe,
      );
      expect(updated?.displayName).toBe(`renamed ${Role[role]}`);
      expect(updated?.role).toBe(role);
      expect(updated?.etag).not.toBe(before!.etag);
      const { user: after } = await service.client.getCurrentUser({}, asMe);
      expect({ ...after, displayName: "", etag: "", updateTime: undefined }).toEqual({ ...before, displayName: "", etag: "", updateTime: undefined });
    });
  },
);
