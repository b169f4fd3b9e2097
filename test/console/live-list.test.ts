import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { DeploymentSchema, DeploymentState, type Deployment } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { anyDeployment, type DeploymentFilter } from "../../edge/console/src/lib/filter-state.js";
import { applyChange, type LivePage } from "../../edge/console/src/lib/live-list.js";

const t0 = Date.UTC(2026, 0, 31, 12, 0, 0);

/** Deployment `id` of api in prod, created `minute` minutes after t0, at `revision`. */
function deployment(id: string, minute: number, revision: number, fields: Partial<Omit<Deployment, "$typeName">> = {}): Deployment {
  return create(DeploymentSchema, {
    name: `deployments/${id}`,
    service: "api",
    environment: "prod",
    version: `1.0.${revision}`,
    state: DeploymentState.IN_PROGRESS,
    creator: "users/ada",
    createTime: timestampFromMs(t0 + minute * 60_000),
    revision: BigInt(revision),
    ...fields,
  });
}

/** A first page (unless `first` is false) holding `rows`, of `totalSize` in all, with later pages unless `last`. */
function pageOf(rows: Deployment[], totalSize = rows.length, first = true, last = false): LivePage {
  return { rows, totalSize, first, last };
}

const names = (page: LivePage) => page.rows.map((row) => row.name);
const inProd: DeploymentFilter = { ...anyDeployment, environment: "prod" };
const inProgress: DeploymentFilter = { ...anyDeployment, state: "IN_PROGRESS" };

describe("applyChange to a deployment on the page", () => {
  it("replaces the row in place with a newer revision, keeping the count", () => {
    const page = pageOf([deployment("c", 3, 30), deployment("b", 2, 20), deployment("a", 1, 10)], 7);
    const newer = deployment("b", 2, 25, { progressPercent: 50 });
    const next = applyChange(page, newer, anyDeployment);
    expect(names(next)).toEqual(["deployments/c", "deployments/b", "deployments/a"]);
    expect(next.rows[1]).toBe(newer);
    expect(next.totalSize).toBe(7);
    expect(next.first).toBe(true);
  });

  it("ignores a change at the same or an older revision, which the page was loaded with already", () => {
    const current = deployment("b", 2, 20, { progressPercent: 80 });
    const page = pageOf([deployment("c", 3, 30), current], 2);
    for (const revision of [20, 19, 1]) {
      const stale = deployment("b", 2, revision, { progressPercent: 10, state: DeploymentState.FAILED });
      expect(applyChange(page, stale, inProgress)).toBe(page);
    }
  });

  it("compares revisions as numbers, not as text", () => {
    const page = pageOf([deployment("a", 1, 9)]);
    const next = applyChange(page, deployment("a", 1, 10, { progressPercent: 90 }), anyDeployment);
    expect(next.rows[0]!.revision).toBe(10n);
    expect(next.rows[0]!.progressPercent).toBe(90);
  });

  it("removes the row when a newer revision no longer matches the filter, and counts one fewer", () => {
    const page = pageOf([deployment("c", 3, 30), deployment("b", 2, 20), deployment("a", 1, 10)], 12);
    const next = applyChange(page, deployment("b", 2, 31, { state: DeploymentState.SUCCEEDED }), inProgress);
    expect(names(next)).toEqual(["deployments/c", "deployments/a"]);
    expect(next.totalSize).toBe(11);
  });

  it("removes a row that stops matching from any page, not only the first", () => {
    const page = pageOf([deployment("b", 2, 20), deployment("a", 1, 10)], 30, false);
    const next = applyChange(page, deployment("a", 1, 40, { environment: "staging" }), inProd);
    expect(names(next)).toEqual(["deployments/b"]);
    expect(next.totalSize).toBe(29);
    expect(next.first).toBe(false);
  });

  it("never counts below zero", () => {
    const page = pageOf([deployment("a", 1, 10)], 0);
    expect(applyChange(page, deployment("a", 1, 11, { state: DeploymentState.FAILED }), inProgress).totalSize).toBe(0);
  });

  it("updates rows on later pages as well as on the first", () => {
    const page = pageOf([deployment("b", 2, 20), deployment("a", 1, 10)], 30, false);
    const next = applyChange(page, deployment("a", 1, 21, { progressPercent: 100 }), anyDeployment);
    expect(next.rows[1]!.progressPercent).toBe(100);
    expect(next.totalSize).toBe(30);
  });
});

describe("applyChange with a deployment not on the page", () => {
  it("adds a new matching deployment to the first page, newest first, and counts it", () => {
    const page = pageOf([deployment("b", 2, 20), deployment("a", 1, 10)], 5);
    const next = applyChange(page, deployment("c", 3, 30), inProd);
    expect(names(next)).toEqual(["deployments/c", "deployments/b", "deployments/a"]);
    expect(next.totalSize).toBe(6);
  });

  it("places a joining deployment by its create time, not at the top", () => {
    const page = pageOf([deployment("c", 3, 30), deployment("a", 1, 10)]);
    const next = applyChange(page, deployment("b", 2, 40), anyDeployment);
    expect(names(next)).toEqual(["deployments/c", "deployments/b", "deployments/a"]);
  });

  it("orders deployments created at the same instant by name, highest first, as the server lists them", () => {
    const page = pageOf([deployment("m", 2, 20), deployment("x", 1, 19)]);
    const withLower = applyChange(page, deployment("a", 2, 21), anyDeployment);
    const withHigher = applyChange(withLower, deployment("z", 2, 22), anyDeployment);
    expect(names(withHigher)).toEqual(["deployments/z", "deployments/m", "deployments/a", "deployments/x"]);
  });

  it("orders by create time to below the millisecond before comparing names", () => {
    const page = pageOf([deployment("z", 1, 10)]);
    const later = deployment("a", 1, 11, { createTime: { ...timestampFromMs(t0 + 60_000), nanos: 500_000 } });
    expect(names(applyChange(page, later, anyDeployment))).toEqual(["deployments/a", "deployments/z"]);
  });

  it("treats a deployment without a create time as the oldest, so it belongs to a later page", () => {
    const page = pageOf([deployment("a", 1, 10)]);
    const timeless = deployment("b", 0, 11, { createTime: undefined });
    expect(applyChange(page, timeless, anyDeployment)).toBe(page);
  });

  it("adds an older deployment that newly matches when no later page exists for it", () => {
    const page = pageOf([deployment("e", 5, 50), deployment("d", 4, 40)], 2, true, true);
    const next = applyChange(page, deployment("b", 2, 60), anyDeployment);
    expect(names(next)).toEqual(["deployments/e", "deployments/d", "deployments/b"]);
    expect(next.totalSize).toBe(3);
  });

  it("leaves off the first page a change to a deployment older than all its rows, which sits on a later page", () => {
    const page = pageOf([deployment("e", 5, 50), deployment("d", 4, 40)], 5);
    const progressed = deployment("b", 2, 60, { progressPercent: 70 });
    expect(applyChange(page, progressed, anyDeployment)).toBe(page);
  });

  it("adds a deployment to an empty first page", () => {
    const next = applyChange(pageOf([]), deployment("a", 1, 10), anyDeployment);
    expect(names(next)).toEqual(["deployments/a"]);
    expect(next.totalSize).toBe(1);
  });

  it("leaves later pages alone: new deployments appear only on the first", () => {
    const page = pageOf([deployment("b", 2, 20), deployment("a", 1, 10)], 30, false);
    expect(applyChange(page, deployment("c", 3, 30), anyDeployment)).toBe(page);
  });

  it("leaves the page alone for a deployment that does not match the filter", () => {
    const page = pageOf([deployment("a", 1, 10)], 1);
    expect(applyChange(page, deployment("c", 3, 30, { environment: "staging" }), inProd)).toBe(page);
    expect(applyChange(page, deployment("d", 4, 31, { state: DeploymentState.PENDING }), inProgress)).toBe(page);
  });
});

describe("applyChange as a whole", () => {
  it("never changes the page it is given", () => {
    const rows = [deployment("c", 3, 30), deployment("b", 2, 20), deployment("a", 1, 10)];
    const page = pageOf([...rows], 3);
    applyChange(page, deployment("d", 4, 40), anyDeployment);
    applyChange(page, deployment("b", 2, 41, { progressPercent: 70 }), anyDeployment);
    applyChange(page, deployment("a", 1, 42, { state: DeploymentState.FAILED }), inProgress);
    expect(page).toEqual(pageOf(rows, 3));
    expect(page.rows.every((row, i) => row === rows[i])).toBe(true);
  });

  it("keeps a page current through a sequence of watched changes", () => {
    let page = pageOf([deployment("b", 2, 20), deployment("a", 1, 10)], 2);
    const changes = [
      deployment("a", 1, 10), // what the page was loaded with
      deployment("c", 3, 30), // created
      deployment("c", 3, 31, { progressPercent: 40 }),
      deployment("b", 2, 32, { state: DeploymentState.SUCCEEDED }), // leaves "in progress"
      deployment("c", 3, 31, { progressPercent: 0 }), // repeated
      deployment("d", 4, 33, { state: DeploymentState.PENDING }), // does not match
    ];
    for (const change of changes) page = applyChange(page, change, inProgress);
    expect(names(page)).toEqual(["deployments/c", "deployments/a"]);
    expect(page.rows[0]!.progressPercent).toBe(40);
    expect(page.totalSize).toBe(2);
  });
});
