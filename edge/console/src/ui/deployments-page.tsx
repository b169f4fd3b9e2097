import { useEffect, useRef, useState } from "preact/hooks";
import type { Deployment } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { WatchDeploymentsResponse } from "../../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { filterFromQuery, filterToQuery, filterableStates, toFilterExpression, type DeploymentFilter } from "../lib/filter-state.js";
import { applyChange, type LivePage } from "../lib/live-list.js";
import { ErrorMessage, LiveStatus, Panel, Progress, StateBadge, Time, enumWords } from "./components.js";
import { useConsole } from "./context.js";
import { CreateDeploymentForm } from "./create-deployment-form.js";
import { deploymentId, userLabel } from "./names.js";
import { href, navigate } from "./route.js";
import { useLiveWatch } from "./use-live-watch.js";

const pageSize = 20;

function FilterForm({ filter, creators }: { filter: DeploymentFilter; creators: string[] }) {
  const { user } = useConsole();
  const apply = (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const fields = [...form.entries()].map(([key, value]) => [key, String(value)]);
    navigate("deployments", filterToQuery(filterFromQuery(new URLSearchParams(fields))));
  };
  const creatorOptions = [...new Set([user.name, ...creators, filter.creator].filter(Boolean))];
  // Uncontrolled fields (default values, keyed by the filter): live updates re-render the page while someone types.
  return (
    <form class="filters" onSubmit={apply} aria-label="Filter deployments" key={toFilterExpression(filter)}>
      <label>
        Service
        <input name="service" defaultValue={filter.service} placeholder="any" />
      </label>
      <label>
        Environment
        <input name="environment" defaultValue={filter.environment} placeholder="any" />
      </label>
      <label>
        State
        <select name="state">
          <option value="">any</option>
          {filterableStates.map((state) => (
            <option value={state} selected={state === filter.state}>
              {enumWords(state)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Creator
        <select name="creator">
          <option value="">anyone</option>
          {creatorOptions.map((creator) => (
            <option value={creator} selected={creator === filter.creator}>
              {userLabel(creator, user)}
            </option>
          ))}
        </select>
      </label>
      <div class="filter-actions">
        <button type="submit">Apply</button>
        <a class="button secondary" href={href("deployments")}>
          Clear
        </a>
      </div>
    </form>
  );
}

/** One row of the deployments table. */
function DeploymentRow({ deployment }: { deployment: Deployment }) {
  const { user } = useConsole();
  return (
    <tr data-deployment={deployment.name}>
      <td>
        <a href={href(deployment.name)}>
          {deployment.service} <span class="version">{deployment.version}</span>
        </a>
        <div class="muted small">{deploymentId(deployment.name)}</div>
      </td>
      <td>{deployment.environment}</td>
      <td>
        <StateBadge state={deployment.state} />
      </td>
      <td>
        <Progress percent={deployment.progressPercent} label={`Progress of ${deployment.service} ${deployment.version}`} />
      </td>
      <td>{userLabel(deployment.creator, user)}</td>
      <td>
        <Time value={deployment.createTime} />
      </td>
    </tr>
  );
}

/**
 * The deployments list: filtered, paginated, and live. The watch follows the
 * filter; the page is loaded when it changes and again on every snapshot.
 * Changes that arrive while a load is in flight are applied to its answer
 * too (older revisions are ignored), so none is lost between the list and
 * the stream. After a drop the watch resumes from its revision.
 */
export function DeploymentsPage({ query }: { query: URLSearchParams }) {
  const { api, can } = useConsole();
  const filter = filterFromQuery(query);
  const expression = toFilterExpression(filter);
  const [tokens, setTokens] = useState<{ expression: string; stack: string[] }>({ expression, stack: [""] });
  const stack = tokens.expression === expression ? tokens.stack : [""];
  const pageToken = stack.at(-1)!;
  const [page, setPage] = useState<LivePage & { key: string; next: string }>({ key: "", rows: [], totalSize: 0, first: true, last: true, next: "" });
  const [error, setError] = useState<unknown>();
  const key = `${expression}\n${pageToken}`;
  /** The load in flight, with the changes that arrived during it; a newer load replaces it. */
  const inFlight = useRef<{ changes: Deployment[] } | undefined>(undefined);

  async function loadPage() {
    const load = { changes: [] as Deployment[] };
    inFlight.current = load;
    try {
      const response = await api.deployments.listDeployments({ filter: expression, pageSize, pageToken });
      if (inFlight.current !== load) return;
      let loaded: LivePage = { rows: response.deployments, totalSize: response.totalSize, first: pageToken === "", last: !response.nextPageToken };
      for (const change of load.changes) loaded = applyChange(loaded, change, filter);
      setPage({ ...loaded, key, next: response.nextPageToken });
      setError(undefined);
    } catch (cause) {
      if (inFlight.current === load) setError(cause);
    } finally {
      if (inFlight.current === load) inFlight.current = undefined;
    }
  }

  // The first load does not wait for the stream, which may be down.
  useEffect(() => void loadPage(), [key]);
  const status = useLiveWatch<WatchDeploymentsResponse>(expression, {
    open: (resumeRevision, signal) => api.deployments.watchDeployments({ filter: expression, resumeRevision }, { signal }),
    onMessage(message) {
      if (message.kind.case === "snapshot") void loadPage();
      if (message.kind.case === "change" && message.kind.value.deployment) {
        const deployment = message.kind.value.deployment;
        inFlight.current?.changes.push(deployment);
        setPage((current) => ({ ...current, ...applyChange(current, deployment, filter) }));
      }
    },
    onStopped: setError,
  });

  const rows = page.key === key ? page.rows : [];
  const creators = [...new Set(rows.map((row) => row.creator))];
  return (
    <>
      {can.deploySomewhere && <CreateDeploymentForm />}
      <Panel title="Deployments" actions={<LiveStatus status={status} />}>
        <FilterForm filter={filter} creators={creators} />
        <ErrorMessage error={error} />
        <div class="table-scroll">
          <table class="deployments">
            <caption class="visually-hidden">Deployments, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Environment</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Creator</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((deployment) => (
                <DeploymentRow key={deployment.name} deployment={deployment} />
              ))}
            </tbody>
          </table>
        </div>
        {page.key === key && rows.length === 0 && <p class="empty">No deployments match.</p>}
        <nav class="pager" aria-label="Pages">
          <span class="muted">{page.key === key ? `${page.totalSize} in all` : "Loading…"}</span>
          <button type="button" disabled={stack.length < 2} onClick={() => setTokens({ expression, stack: stack.slice(0, -1) })}>
            Newer
          </button>
          <button type="button" disabled={!page.next || page.key !== key} onClick={() => setTokens({ expression, stack: [...stack, page.next] })}>
            Older
          </button>
        </nav>
      </Panel>
    </>
  );
}
