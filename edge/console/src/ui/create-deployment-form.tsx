import { useState } from "preact/hooks";
import { ErrorMessage, Panel } from "./components.js";
import { useConsole } from "./context.js";
import { useAction } from "./use-action.js";
import { href } from "./route.js";

/**
 * Creates a deployment. The request id is kept until the form changes or
 * the create succeeds, so pressing Create again after a lost answer returns
 * the same deployment instead of a second one (AIP-155).
 */
export function CreateDeploymentForm() {
  const { api, user, can } = useConsole();
  const [requestId, setRequestId] = useState(() => crypto.randomUUID());
  const [created, setCreated] = useState<string>();
  const { run, error, busy } = useAction();

  async function submit(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const field = (name: string) => String(new FormData(form).get(name) ?? "").trim();
    setCreated(undefined);
    await run(async () => {
      const { deployment } = await api.deployments.createDeployment({
        deployment: { service: field("service"), version: field("version"), environment: field("environment"), description: field("description") },
        requestId,
      });
      setCreated(deployment?.name);
      setRequestId(crypto.randomUUID());
      form.reset();
    });
  }

  const environments = user.environments.length > 0 && !can.manageUsers ? user.environments : undefined;
  return (
    <Panel title="New deployment">
      <form class="create-deployment" onSubmit={submit} onInput={() => setRequestId(crypto.randomUUID())}>
        <label>
          Service
          <input name="service" required autoComplete="off" placeholder="checkout" />
        </label>
        <label>
          Version
          <input name="version" required autoComplete="off" placeholder="1.4.2" />
        </label>
        <label>
          Environment
          {environments ? (
            <select name="environment" required>
              {environments.map((environment) => (
                <option value={environment}>{environment}</option>
              ))}
            </select>
          ) : (
            <input name="environment" required autoComplete="off" placeholder="production" defaultValue={user.preferences?.defaultEnvironment ?? ""} />
          )}
        </label>
        <label class="wide">
          Description
          <input name="description" autoComplete="off" placeholder="why, for the history" />
        </label>
        <button type="submit" disabled={busy}>
          Create
        </button>
      </form>
      <ErrorMessage error={error} />
      {created && (
        <p class="notice" role="status">
          Created <a href={href(created)}>{created}</a>.
        </p>
      )}
    </Panel>
  );
}
