import type { NewDeployment } from "../../services/deployments/store/types.js";
import { at } from "../support/fixture-time.js";

/**
 * Distinct new deployments for store tests, numbered 1, 2, 3…: ids
 * `${prefix}-00001`…, each its own service (so none blocks another), created
 * that many minutes into the fixture day; `overrides` replace any field.
 */
export function newDeployments(prefix: string): (overrides?: Partial<NewDeployment>) => NewDeployment {
  let serial = 0;
  return (overrides = {}) => {
    serial++;
    return {
      id: `${prefix}-${String(serial).padStart(5, "0")}`,
      service: `service-${serial}`,
      version: "1.0.0",
      environment: "staging",
      description: `deployment ${serial}`,
      labels: { team: "core", ticket: `T-${serial}` },
      creator: "users/ada",
      rollbackOf: null,
      createTime: at(serial),
      ...overrides,
    };
  };
}
