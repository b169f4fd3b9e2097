import { useEffect, useState } from "preact/hooks";
import { newerOf } from "../lib/revision.js";
import { DeploymentState, type Deployment } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { WatchDeploymentsResponse } from "../../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { ErrorMessage, LiveStatus, Panel, Progress, StateBadge } from "./components.js";
import { useConsole } from "./context.js";
import { href } from "./route.js";
import { useLiveWatch } from "./use-live-watch.js";

/** The states the overview reads: what is live, and what is in flight. */
const overviewStates = [DeploymentState.SUCCEEDED, DeploymentState.PENDING, DeploymentState.IN_PROGRESS, DeploymentState.CANCELLING];

/** Keeps the newer revision of each deployment, and only those the overview shows, so the map does not grow forever. */
function mergeByRevision(known: Map<string, Deployment>, more: Deployment[]): Map<string, Deployment> {
  const next = new Map(known);
  for (const deployment of more) {
    const kept = newerOf(next.get(deployment.name), deployment);
    if (overviewStates.includes(kept.state)) next.set(deployment.name, kept);
    else next.delete(deployment.name);
  }
  return next;
}

interface Cell {
  live?: Deployment;
  inFlight: Deployment[];
}

/** Service × environment → what is live and what is in flight. */
function overviewOf(deployments: Iterable<Deployment>): { services: string[]; environments: string[]; cells: Map<string, Cell> } {
  const cells = new Map<string, Cell>();
  const services = new Set<string>();
  const environments = new Set<string>();
  for (const deployment of deployments) {
    services.add(deployment.service);
    environments.add(deployment.environment);
    const key = `${deployment.service}\n${deployment.environment}`;
    const cell = cells.get(key) ?? { inFlight: [] };
    if (deployment.state === DeploymentState.SUCCEEDED) cell.live = deployment;
    else cell.inFlight.push(deployment);
    cells.set(key, cell);
  }
  return { services: [...services].sort(), environments: [...environments].sort(), cells };
}

/**
 * For every service and environment, the version live now (the one
 * SUCCEEDED deployment: older successes are SUPERSEDED) and what is in
 * flight, kept current by WatchDeployments.
 */
export function EnvironmentsPage() {
  const { api } = useConsole();
  const [deployments, setDeployments] = useState(new Map<string, Deployment>());
  const [error, setError] = useState<unknown>();
  const [loaded, setLoaded] = useState(false);

  async function load() {
    try {
      const pages = await Promise.all(
        overviewStates.map((state) => api.deployments.listDeployments({ filter: `state = DEPLOYMENT_STATE_${DeploymentState[state]}`, pageSize: 1000 })),
      );
      setDeployments((known) => mergeByRevision(known, pages.flatMap((page) => page.deployments)));
      setLoaded(true);
      setError(undefined);
    } catch (cause) {
      setError(cause);
    }
  }

  // The first load does not wait for the stream, which may be down.
  useEffect(() => void load(), []);
  const status = useLiveWatch<WatchDeploymentsResponse>("overview", {
    open: (resumeRevision, signal) => api.deployments.watchDeployments({ resumeRevision }, { signal }),
    onMessage(message) {
      if (message.kind.case === "snapshot") {
        const snapshot = message.kind.value.deployments;
        setDeployments((known) => mergeByRevision(known, snapshot));
        void load();
      }
      if (message.kind.case === "change" && message.kind.value.deployment) {
        const deployment = message.kind.value.deployment;
        setDeployments((known) => mergeByRevision(known, [deployment]));
      }
    },
    onReset: () => setDeployments(new Map()),
    onStopped: setError,
  });

  const { services, environments, cells } = overviewOf(deployments.values());
  return (
    <Panel title="Environments" actions={<LiveStatus status={status} />}>
      <ErrorMessage error={error} />
      {services.length === 0 ? (
        <p class="empty">{loaded ? "Nothing is deployed yet." : error ? "" : "Loading…"}</p>
      ) : (
        <div class="table-scroll">
          <table class="overview">
            <caption class="visually-hidden">Live versions and deployments in flight, by service and environment</caption>
            <thead>
              <tr>
                <th scope="col">Service</th>
                {environments.map((environment) => (
                  <th scope="col">{environment}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {services.map((service) => (
                <tr key={service}>
                  <th scope="row">{service}</th>
                  {environments.map((environment) => {
                    const cell = cells.get(`${service}\n${environment}`);
                    return (
                      <td data-service={service} data-environment={environment}>
                        {cell?.live ? (
                          <a class="live-version" href={href(cell.live.name)} title="live now">
                            {cell.live.version}
                          </a>
                        ) : (
                          <span class="muted">—</span>
                        )}
                        {cell?.inFlight.map((deployment) => (
                          <div class="in-flight">
                            <a href={href(deployment.name)}>→ {deployment.version}</a> <StateBadge state={deployment.state} />
                            <Progress percent={deployment.progressPercent} label={`Progress of ${service} ${deployment.version} in ${environment}`} />
                          </div>
                        ))}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
