import type { Deployment } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";
import { matchesFilter, type DeploymentFilter } from "./filter-state.js";
import { newerOf } from "./revision.js";

/** One page of the deployments list, kept current by watch changes. */
export interface LivePage {
  rows: Deployment[];
  /** Matching deployments across all pages, as the server counted them plus what arrived since. */
  totalSize: number;
  /** Whether this is the first page, where new deployments appear. */
  first: boolean;
  /** Whether this is the last page, where older deployments that newly match appear. */
  last: boolean;
}

function newestFirst(a: Deployment, b: Deployment): number {
  const at = (d: Deployment) => (d.createTime ? Number(d.createTime.seconds) * 1e3 + d.createTime.nanos / 1e6 : 0);
  return at(b) - at(a) || (b.name < a.name ? -1 : b.name > a.name ? 1 : 0);
}

/**
 * Applies one watched deployment to a page. Changes arrive in revision
 * order but may repeat what the page was loaded with (the list is read after
 * the watch starts, so nothing falls between them): a row is replaced only
 * by a newer revision. A deployment that stops matching the filter leaves
 * the page. One that is not on the page joins the first page if it sorts
 * among its rows (it is new, or newly matches); one older than every row
 * joins only when there is no later page for it to belong to.
 */
export function applyChange(page: LivePage, deployment: Deployment, filter: DeploymentFilter): LivePage {
  const index = page.rows.findIndex((row) => row.name === deployment.name);
  const matches = matchesFilter(filter, deployment);
  if (index >= 0) {
    if (newerOf(page.rows[index], deployment) !== deployment) return page;
    if (!matches) return { ...page, rows: page.rows.toSpliced(index, 1), totalSize: Math.max(0, page.totalSize - 1) };
    return { ...page, rows: page.rows.with(index, deployment) };
  }
  if (!matches || !page.first) return page;
  const oldest = page.rows.at(-1);
  if (oldest && newestFirst(deployment, oldest) > 0 && !page.last) return page;
  return { ...page, rows: [...page.rows, deployment].sort(newestFirst), totalSize: page.totalSize + 1 };
}
