import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { repoRoot } from "../support/program.js";
import { admin, startTestUsers, type TestUsersService } from "../support/users-service.js";

/** What one `buf curl` run printed and how it exited. */
interface BufRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node_modules/.bin/buf curl ...args`; never rejects on a non-zero exit. */
function bufCurl(...args: string[]): Promise<BufRun> {
  return new Promise((resolve, reject) => {
    execFile(`${repoRoot}node_modules/.bin/buf`, ["curl", ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") return reject(error);
      resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
    });
  });
}

const reflectProtocols = ["grpc-v1", "grpc-v1alpha"] as const;
const userServiceMethods = UserService.methods.map((m) => `${UserService.typeName}/${m.name}`).sort();

let service: TestUsersService;
let base: string;

beforeAll(async () => {
  service = await startTestUsers();
  base = `http://${service.address}`;
});
afterAll(() => service?.stop());

/** `buf curl --protocol grpc` through server reflection with the given reflection protocol. */
const grpc = (reflect: string, ...args: string[]) =>
  bufCurl("--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", reflect, ...args);

describe.each(reflectProtocols)("buf curl with no local protos, reflection over %s", (reflect) => {
  it("lists UserService and every one of its methods", async () => {
    const services = await grpc(reflect, "--list-services", base);
    expect(services.code, services.stderr).toBe(0);
    expect(services.stdout.split("\n")).toContain(UserService.typeName);

    const methods = await grpc(reflect, "--list-methods", base);
    expect(methods.code, methods.stderr).toBe(0);
    const listed = methods.stdout.split("\n").filter((line) => line.startsWith(`${UserService.typeName}/`));
    expect(listed.sort()).toEqual(userServiceMethods);
  });

  it("asks the reflection service at the protocol's own path", async () => {
    const verbose = await grpc(reflect, "-v", "--list-services", base);
    expect(verbose.code, verbose.stderr).toBe(0);
    const path = reflect === "grpc-v1" ? "grpc.reflection.v1" : "grpc.reflection.v1alpha";
    expect(verbose.stderr).toContain(`POST /${path}.ServerReflection/ServerReflectionInfo`);
    expect(verbose.stderr).not.toMatch(/HTTP\/2\.0 (404|415|501)/);
  });

  it("Login with JSON -d, then GetCurrentUser with the bearer token", async () => {
    const login = await grpc(reflect, "-d", JSON.stringify(admin), `${base}/${UserService.typeName}/Login`);
    expect(login.code, login.stderr).toBe(0);
    const signedIn = JSON.parse(login.stdout) as { tokens: { accessToken: string; refreshToken: string }; user: { email: string; role: string } };
    expect(signedIn.tokens.accessToken.split(".")).toHaveLength(3);
    expect(signedIn.tokens.refreshToken).toMatch(/^lpr_/);
    expect(signedIn.user).toMatchObject({ email: admin.email, role: "ROLE_ADMIN" });

    const current = await grpc(
      reflect,
      "-H",
      `Authorization: Bearer ${signedIn.tokens.accessToken}`,
      `${base}/${UserService.typeName}/GetCurrentUser`,
    );
    expect(current.code, current.stderr).toBe(0);
    const { user } = JSON.parse(current.stdout) as { user: { name: string; email: string; kind: string; state: string } };
    expect(user).toMatchObject({ email: admin.email, kind: "USER_KIND_HUMAN", state: "USER_STATE_ACTIVE" });
    expect(user.name).toMatch(/^users\/[0-9a-f-]{36}$/);
  });

  it("a failing call shows the NotFound code and the ErrorInfo reason", async () => {
    const token = await service.login(admin.email, admin.password);
    const name = `users/${randomUUID()}`;
    const run = await grpc(reflect, "-H", `Authorization: Bearer ${token}`, "-d", JSON.stringify({ name }), `${base}/${UserService.typeName}/GetUser`);
    // buf curl exits with the gRPC code shifted three bits left: NOT_FOUND (5) → 40.
    expect(run.code).toBe(5 << 3);
    const error = JSON.parse(run.stderr) as { code: string; message: string; details?: { type: string; value: string; debug?: unknown }[] };
    expect(error.code).toBe("not_found");
    expect(error.message).toContain(name);
    const info = error.details?.find((d) => d.type === "google.rpc.ErrorInfo");
    expect(info).toBeDefined();
    // buf curl prints details it cannot resolve as base64 bytes; decode them to read the reason.
    const decoded = fromBinary(ErrorInfoSchema, base64Decode(info!.value));
    expect(decoded).toMatchObject({ reason: "USER_NOT_FOUND", domain: "launchpad.dev" });
  });

  it("a call without credentials is refused with UNAUTHENTICATED", async () => {
    const run = await grpc(reflect, `${base}/${UserService.typeName}/GetCurrentUser`);
    expect(run.code).toBe(16 << 3);
    expect((JSON.parse(run.stderr) as { code: string }).code).toBe("unauthenticated");
  });
});
