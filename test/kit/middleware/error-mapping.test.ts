import { AbortError } from "abort-controller-x";
import { createServer, Metadata, ServerError, Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError, invalidArgument, type ErrorKind } from "../../../services/kit/errors.js";
import { errorDomain } from "../../../services/kit/errors.js";
import { createErrorMappingMiddleware } from "../../../services/kit/middleware/error-mapping.js";
import {
  badRequest,
  callError,
  captureLogs,
  errorDetails,
  errorInfo,
  retryInfo,
  serve,
  stubRequestContext,
  userClient,
  userDefinition,
  userHandlers,
  wireStatus,
  wireViolations,
  type Served,
} from "../../support/grpc.js";

const kinds: Array<[ErrorKind, Status]> = [
  ["invalid-argument", Status.INVALID_ARGUMENT],
  ["not-found", Status.NOT_FOUND],
  ["already-exists", Status.ALREADY_EXISTS],
  ["permission-denied", Status.PERMISSION_DENIED],
  ["unauthenticated", Status.UNAUTHENTICATED],
  ["failed-precondition", Status.FAILED_PRECONDITION],
  ["aborted", Status.ABORTED],
  ["resource-exhausted", Status.RESOURCE_EXHAUSTED],
  ["unavailable", Status.UNAVAILABLE],
];

const sqlError = () => {
  const error = new Error(`duplicate key value violates unique constraint "users_email_key": INSERT INTO users (email, password_hash) VALUES ('a@example.com', '$argon2id$v=19$secret')`);
  error.stack = `${error.message}\n    at Store.createUser (/app/services/users/store/users.ts:42:11)`;
  return error;
};

describe("error-mapping middleware", () => {
  const logs = captureLogs();
  let served: Served;
  let client: ReturnType<typeof userClient>;
  /** What GetUser throws next. */
  let failure: unknown;

  beforeAll(async () => {
    const server = createServer().use(stubRequestContext(logs.logger)).use(createErrorMappingMiddleware());
    server.add(
      userDefinition,
      userHandlers({
        async getUser() {
          throw failure;
        },
        async *streamUsers() {
          yield { user: { name: "users/1" } };
          throw failure;
        },
      }),
    );
    served = await serve(server);
    client = userClient(served.channel);
  });

  afterAll(() => served?.close());

  async function fail(error: unknown, onTrailer?: (trailer: Metadata) => void) {
    failure = error;
    return callError(client.getUser({ name: "users/a" }, onTrailer ? { onTrailer } : {}));
  }

  it.each(kinds)("sends a %s domain error as gRPC code %i with its message", async (kind, code) => {
    const error = await fail(new DomainError(kind, "SOME_REASON", "what went wrong"));
    expect(error.code).toBe(code);
    expect(error.details).toBe("what went wrong");
  });

  it("attaches google.rpc.ErrorInfo with the reason, domain launchpad.dev and metadata", async () => {
    const error = await fail(
      new DomainError("not-found", "USER_NOT_FOUND", "users/b does not exist", { metadata: { name: "users/b" } }),
    );
    expect(errorDomain).toBe("launchpad.dev");
    expect(errorInfo(error)).toMatchObject({ reason: "USER_NOT_FOUND", domain: "launchpad.dev", metadata: { name: "users/b" } });
    expect(badRequest(error)).toBeUndefined();
    expect(retryInfo(error)).toBeUndefined();
  });

  it("attaches google.rpc.BadRequest with every field violation", async () => {
    const error = await fail(
      invalidArgument("FIELD_REQUIRED", [
        { field: "user.email", description: "is required", reason: "FIELD_REQUIRED" },
        { field: "user.role", description: "must be a known role", reason: "INVALID_ROLE" },
      ]),
    );
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.reason).toBe("FIELD_REQUIRED");
    expect(badRequest(error)?.fieldViolations).toEqual([
      expect.objectContaining({ field: "user.email", description: "is required" }),
      expect.objectContaining({ field: "user.role", description: "must be a known role" }),
    ]);
  });

  it("sends each field violation's reason (google.rpc.BadRequest.FieldViolation.reason, field 3)", async () => {
    let trailer: Metadata | undefined;
    await fail(
      invalidArgument("FIELD_REQUIRED", [
        { field: "user.email", description: "is required", reason: "FIELD_REQUIRED" },
        { field: "user.role", description: "must be a known role", reason: "INVALID_ROLE" },
      ]),
      (t) => (trailer = t),
    );
    const violations = wireViolations(wireStatus(trailer));
    expect(violations.map((v) => [v.field, v.reason])).toEqual([
      ["user.email", "FIELD_REQUIRED"],
      ["user.role", "INVALID_ROLE"],
    ]);
  });

  it("attaches google.rpc.RetryInfo when the error says when to retry", async () => {
    const error = await fail(
      new DomainError("resource-exhausted", "TOO_MANY_ATTEMPTS", "try again later", { retryAfterSeconds: 30 }),
    );
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(retryInfo(error)?.retryDelay).toMatchObject({ seconds: 30, nanos: 0 });
  });

  it("never sends a domain error's cause", async () => {
    const error = await fail(new DomainError("unavailable", "DATABASE_UNAVAILABLE", "try again", { cause: sqlError() }));
    expect(JSON.stringify([error.message, error.details, errorDetails(error)])).not.toContain("INSERT");
  });

  it("sends an unexpected error as INTERNAL \"internal error\" with reason INTERNAL and nothing of the original", async () => {
    let trailer: Metadata | undefined;
    const error = await fail(sqlError(), (t) => (trailer = t));
    expect(error.code).toBe(Status.INTERNAL);
    expect(error.details).toBe("internal error");
    expect(errorInfo(error)).toMatchObject({ reason: "INTERNAL", domain: "launchpad.dev" });
    const onTheWire = [error.message, JSON.stringify(errorDetails(error))];
    for (const [, values] of trailer ?? []) {
      for (const value of values) onTheWire.push(typeof value === "string" ? value : Buffer.from(value).toString("latin1"));
    }
    for (const leak of ["INSERT", "users_email_key", "argon2", "store/users.ts", "duplicate key"]) {
      expect(onTheWire.join("\n")).not.toContain(leak);
    }
  });

  it("logs an unexpected error once, at error level, with its stack and the method", async () => {
    const before = logs.lines.length;
    await fail(sqlError());
    const lines = logs.lines.slice(before);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "error", msg: "unexpected error", method: "/launchpad.user.v1.UserService/GetUser" });
    expect(lines[0]!.err.stack).toContain("store/users.ts:42");
  });

  it("passes a ServerError through unchanged and does not log it", async () => {
    const before = logs.lines.length;
    const error = await fail(new ServerError(Status.UNIMPLEMENTED, "not yet"));
    expect(error.code).toBe(Status.UNIMPLEMENTED);
    expect(error.details).toBe("not yet");
    expect(logs.lines.slice(before)).toHaveLength(0);
  });

  it("passes an abort through as CANCELLED and does not log it", async () => {
    const before = logs.lines.length;
    const error = await fail(new AbortError());
    expect(error.code).toBe(Status.CANCELLED);
    expect(logs.lines.slice(before)).toHaveLength(0);
  });

  it("maps errors thrown part-way through a server stream", async () => {
    failure = new DomainError("failed-precondition", "STREAM_BROKEN", "the stream broke");
    const received: string[] = [];
    const error = await callError(
      (async () => {
        for await (const response of client.streamUsers({})) received.push(response.user!.name);
      })(),
    );
    expect(received).toEqual(["users/1"]);
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("STREAM_BROKEN");
  });
});
