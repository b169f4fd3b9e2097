import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ComponentChildren } from "preact";
import { DeploymentState } from "../../../../gen/launchpad/deployment/v1/deployment_pb.js";
import { errorText } from "../lib/error-text.js";
import type { WatchStatus } from "../lib/resumable-watch.js";
import { href } from "./route.js";
import { useTimeZone } from "./time-zone.js";

/** A time in the viewer's time zone, with the exact time (and UTC) on hover. */
export function Time({ value }: { value: Timestamp | undefined }) {
  const timeZone = useTimeZone();
  if (!value) return <span class="muted">—</span>;
  const date = timestampDate(value);
  const shown = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", timeZone }).format(date);
  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long", timeZone }).format(date);
  return (
    <time dateTime={date.toISOString()} title={`${exact} (${date.toISOString()})`}>
      {shown}
    </time>
  );
}

/** An enum value's name as people read it: "IN_PROGRESS" → "in progress". */
export function enumWords(name: string | undefined): string {
  return (name ?? "unknown").toLowerCase().replace(/_/g, " ");
}

/** A deployment's state as a coloured badge. */
export function StateBadge({ state }: { state: DeploymentState }) {
  return (
    <span class={`badge state-${(DeploymentState[state] ?? "unknown").toLowerCase()}`} data-state={DeploymentState[state]}>
      {enumWords(DeploymentState[state])}
    </span>
  );
}

/** A rollout's progress, announced to assistive technology as a progress bar. */
export function Progress({ percent, label }: { percent: number; label: string }) {
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div class="progress-fill" style={{ width: `${percent}%` }} />
      <span class="progress-text">{percent}%</span>
    </div>
  );
}

/** An API error in words, linking the deployment it names (such as the one that blocked a create). */
export function ErrorMessage({ error }: { error: unknown }) {
  if (!error) return null;
  const { text, deployment, reason } = errorText(error);
  return (
    <div class="error" role="alert" data-reason={reason}>
      <p>{text}</p>
      {deployment && (
        <p>
          Blocking deployment: <a href={href(deployment)}>{deployment}</a>
        </p>
      )}
    </div>
  );
}

const statusText: Record<WatchStatus, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Stopped",
};

/** Whether a live view is receiving changes; announced politely when it changes. */
export function LiveStatus({ status }: { status: WatchStatus }) {
  return (
    <span class={`live-status live-status-${status}`} role="status" data-status={status}>
      {statusText[status]}
    </span>
  );
}

/** A titled section of a page. */
export function Panel({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const id = `panel-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section class="panel" aria-labelledby={id}>
      <header class="panel-header">
        <h2 id={id}>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}
