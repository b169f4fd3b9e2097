import { useEffect, useState } from "preact/hooks";
import { DeploymentEventType, DeploymentState, type Deployment, type DeploymentEvent } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";
import type { WatchDeploymentResponse } from "../../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { Api } from "../api/clients.js";
import { newerOf } from "../lib/revision.js";
import { ErrorMessage, LiveStatus, Panel, Progress, StateBadge, Time, enumWords } from "./components.js";
import { useConsole } from "./context.js";
import { userLabel } from "./names.js";
import { href, navigate } from "./route.js";
import { useAction } from "./use-action.js";
import { useLiveWatch } from "./use-live-watch.js";

const unfinished = new Set([DeploymentState.PENDING, DeploymentState.IN_PROGRESS, DeploymentState.CANCELLING]);

async function allEvents(api: Api, parent: string): Promise<DeploymentEvent[]> {
  const events: DeploymentEvent[] = [];
  let pageToken = "";
  do {
    const page = await api.deployments.listDeploymentEvents({ parent, pageSize: 1000, pageToken });
    events.push(...page.events);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return events;
}

/** Whether an agent's log link is safe to render as one: http(s) only, never javascript: or data:. */
function isWebUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** Adds events not yet known (by sequence), oldest first. */
function mergeEvents(known: DeploymentEvent[], more: DeploymentEvent[]): DeploymentEvent[] {
  const bySequence = new Map(known.map((event) => [event.sequence, event]));
  for (const event of more) bySequence.set(event.sequence, event);
  return [...bySequence.values()].sort((a, b) => Number(a.sequence - b.sequence));
}

function Actions({ deployment }: { deployment: Deployment }) {
  const { api, can } = useConsole();
  const { run, error, busy } = useAction();
  // One request id per rollback target, so clicking again after a lost answer cannot roll back twice (AIP-155).
  const [rollbackRequest, setRollbackRequest] = useState({ targetVersion: "", requestId: crypto.randomUUID() });
  if (!can.deployTo(deployment.environment)) return null;

  const cancel = () => {
    if (!confirm(`Cancel ${deployment.service} ${deployment.version} in ${deployment.environment}?`)) return;
    return run(async () => void (await api.deployments.cancelDeployment({ name: deployment.name, reason: "cancelled from the console" })));
  };
  const rollback = (event: Event) => {
    event.preventDefault();
    const targetVersion = String(new FormData(event.currentTarget as HTMLFormElement).get("targetVersion") ?? "").trim();
    const request = rollbackRequest.targetVersion === targetVersion ? rollbackRequest : { targetVersion, requestId: crypto.randomUUID() };
    setRollbackRequest(request);
    return run(async () => {
      const { deployment: created } = await api.deployments.rollbackDeployment({
        name: deployment.name,
        ...request,
        description: `rollback from the console of ${deployment.name}`,
      });
      if (created) navigate(created.name);
    });
  };
  return (
    <div class="actions">
      {unfinished.has(deployment.state) && deployment.state !== DeploymentState.CANCELLING && (
        <button type="button" class="danger" disabled={busy} onClick={cancel}>
          Cancel deployment
        </button>
      )}
      <form class="rollback" onSubmit={rollback}>
        <label>
          Roll back to version
          <input name="targetVersion" placeholder="the last success before this one" autoComplete="off" />
        </label>
        <button type="submit" disabled={busy}>
          Roll back
        </button>
      </form>
      <ErrorMessage error={error} />
    </div>
  );
}

/**
 * One deployment, live: its state and progress from WatchDeployment, and its
 * history from ListDeploymentEvents plus the events the watch brings.
 */
export function DeploymentPage({ id }: { id: string }) {
  const { api, user } = useConsole();
  const name = `deployments/${id}`;
  const [deployment, setDeployment] = useState<Deployment>();
  const [events, setEvents] = useState<DeploymentEvent[]>([]);
  const [error, setError] = useState<unknown>();

  const loadEvents = () =>
    allEvents(api, name).then(
      (loaded) => setEvents((known) => mergeEvents(known, loaded)),
      (cause: unknown) => setError(cause),
    );
  useEffect(() => {
    setDeployment(undefined);
    setEvents([]);
    setError(undefined);
    api.deployments.getDeployment({ name }).then(
      (response) => response.deployment && setDeployment((current) => newerOf(current, response.deployment!)),
      (cause: unknown) => setError(cause),
    );
    void loadEvents();
  }, [name]);

  const status = useLiveWatch<WatchDeploymentResponse>(name, {
    onStopped: setError,
    open: (resumeRevision, signal) => api.deployments.watchDeployment({ name, resumeRevision }, { signal }),
    onMessage(message) {
      const next = message.kind.case === "snapshot" ? message.kind.value : message.kind.case === "change" ? message.kind.value.deployment : undefined;
      if (next) setDeployment((current) => newerOf(current, next));
      if (message.kind.case === "snapshot") void loadEvents();
      if (message.kind.case === "change" && message.kind.value.event) {
        const event = message.kind.value.event;
        setEvents((known) => mergeEvents(known, [event]));
      }
    },
  });

  if (!deployment) {
    return (
      <Panel title={name}>
        {error ? <ErrorMessage error={error} /> : <p class="muted">Loading…</p>}
        <p>
          <a href={href("deployments")}>All deployments</a>
        </p>
      </Panel>
    );
  }
  return (
    <>
      <Panel title={`${deployment.service} ${deployment.version} → ${deployment.environment}`} actions={<LiveStatus status={status} />}>
        <dl class="facts">
          <dt>Deployment</dt>
          <dd>{deployment.name}</dd>
          <dt>State</dt>
          <dd aria-live="polite">
            <StateBadge state={deployment.state} />
          </dd>
          <dt>Progress</dt>
          <dd>
            <Progress percent={deployment.progressPercent} label="Rollout progress" />
          </dd>
          <dt>Status</dt>
          <dd>{deployment.statusMessage || "—"}</dd>
          {isWebUrl(deployment.logUrl) && (
            <>
              <dt>Logs</dt>
              <dd>
                <a href={deployment.logUrl} target="_blank" rel="noopener noreferrer">
                  {deployment.logUrl}
                </a>
              </dd>
            </>
          )}
          {deployment.description && (
            <>
              <dt>Description</dt>
              <dd>{deployment.description}</dd>
            </>
          )}
          {deployment.rollbackOf && (
            <>
              <dt>Rolls back</dt>
              <dd>
                <a href={href(deployment.rollbackOf)}>{deployment.rollbackOf}</a>
              </dd>
            </>
          )}
          <dt>Creator</dt>
          <dd>{userLabel(deployment.creator, user)}</dd>
          <dt>Created</dt>
          <dd>
            <Time value={deployment.createTime} />
          </dd>
          <dt>Finished</dt>
          <dd>
            <Time value={deployment.endTime} />
          </dd>
        </dl>
        <Actions deployment={deployment} />
      </Panel>
      <Panel title="Timeline">
        <ol class="timeline">
          {events.map((event) => (
            <li key={String(event.sequence)} data-event-type={DeploymentEventType[event.type]}>
              <Time value={event.createTime} /> <strong>{enumWords(DeploymentEventType[event.type])}</strong> <StateBadge state={event.state} /> {event.progressPercent}%
              {event.message && <span class="event-message"> — {event.message}</span>}
              <span class="muted small"> by {userLabel(event.actor, user)}</span>
            </li>
          ))}
        </ol>
        <ErrorMessage error={error} />
      </Panel>
    </>
  );
}
