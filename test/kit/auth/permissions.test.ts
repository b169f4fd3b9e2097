import { describe, expect, it } from "vitest";
import { Role } from "../../../gen/launchpad/user/v1/user_pb.js";
import { roleGrants } from "../../../services/kit/auth/permissions.js";

const read = ["deployments.get", "deployments.list"];
const change = ["deployments.create", "deployments.cancel", "deployments.rollback"];
const users = ["users.get", "users.list", "users.create", "users.update", "users.delete", "apikeys.create", "apikeys.list", "apikeys.delete"];

describe("roleGrants", () => {
  it("gives viewers read access to deployments only", () => {
    for (const p of read) expect(roleGrants(Role.VIEWER, p)).toBe(true);
    for (const p of [...change, "deployments.report", ...users]) expect(roleGrants(Role.VIEWER, p)).toBe(false);
  });

  it("gives deployers read access and create, cancel and rollback", () => {
    for (const p of [...read, ...change]) expect(roleGrants(Role.DEPLOYER, p)).toBe(true);
    for (const p of ["deployments.report", ...users]) expect(roleGrants(Role.DEPLOYER, p)).toBe(false);
  });

  it("gives agents read access and progress reports", () => {
    for (const p of [...read, "deployments.report"]) expect(roleGrants(Role.AGENT, p)).toBe(true);
    for (const p of [...change, ...users]) expect(roleGrants(Role.AGENT, p)).toBe(false);
  });

  it("gives admins every permission", () => {
    for (const p of [...read, ...change, "deployments.report", ...users]) expect(roleGrants(Role.ADMIN, p)).toBe(true);
  });

  it("gives an unspecified or unknown role nothing", () => {
    for (const p of [...read, ...users]) {
      expect(roleGrants(Role.UNSPECIFIED, p)).toBe(false);
      expect(roleGrants(99 as Role, p)).toBe(false);
    }
  });
});
