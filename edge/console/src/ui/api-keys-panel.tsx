import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import { ErrorMessage, Time } from "./components.js";
import { useConsole } from "./context.js";
import { useAction } from "./use-action.js";
import { useAsync } from "./use-async.js";

/** The secret of a key just created: shown once, with a copy button, and gone when dismissed. */
function NewSecret({ secret, onDismiss }: { secret: string; onDismiss(): void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div class="secret" role="alert">
      <p>Copy this key now. It is shown only once: Launchpad keeps only its hash.</p>
      <label>
        New API key
        <input class="secret-value" readOnly value={secret} onFocus={(event) => event.currentTarget.select()} />
      </label>
      <button
        type="button"
        onClick={() => navigator.clipboard.writeText(secret).then(() => setCopied(true), () => setCopied(false))}
      >
        {copied ? "Copied" : "Copy"}
      </button>
      <button type="button" class="secondary" onClick={onDismiss}>
        I have stored it
      </button>
    </div>
  );
}

/** A service account's API keys: create (the secret shown once), list, revoke. */
export function ApiKeysPanel({ owner }: { owner: User }) {
  const { api } = useConsole();
  const keys = useAsync(owner.name, () => api.users.listApiKeys({ parent: owner.name, pageSize: 1000 }));
  const [secret, setSecret] = useState<string>();
  const { run, error, busy } = useAction();

  async function create(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const days = Number(data.get("days") ?? 0);
    await run(async () => {
      const response = await api.users.createApiKey({
        parent: owner.name,
        apiKey: { displayName: String(data.get("displayName") ?? "").trim(), ...(days > 0 ? { expireTime: timestampFromMs(Date.now() + days * 86_400_000) } : {}) },
      });
      setSecret(response.secret);
      form.reset();
      keys.reload();
    });
  }

  async function revoke(name: string, displayName: string) {
    if (!confirm(`Revoke the key "${displayName}"? Anything using it stops working at once.`)) return;
    if (await run(async () => void (await api.users.deleteApiKey({ name })))) keys.reload();
  }

  return (
    <section class="api-keys" aria-label={`API keys of ${owner.email}`}>
      <h3>API keys</h3>
      {secret && <NewSecret secret={secret} onDismiss={() => setSecret(undefined)} />}
      <form class="create-key" onSubmit={create}>
        <label>
          Key name
          <input name="displayName" required autoComplete="off" placeholder="what the key is for" />
        </label>
        <label>
          Expires after <span class="muted small">(days; empty for never)</span>
          <input name="days" type="number" min={1} max={3650} />
        </label>
        <button type="submit" disabled={busy}>
          Create key
        </button>
      </form>
      <ErrorMessage error={error ?? keys.error} />
      <ul class="keys">
        {(keys.value?.apiKeys ?? []).map((key) => (
          <li key={key.name} data-key={key.displayName}>
            <strong>{key.displayName}</strong> <code>{key.prefix}…</code> <span class="muted small">created</span> <Time value={key.createTime} />
            <span class="muted small"> last used</span> <Time value={key.lastUseTime} />
            {key.expireTime && (
              <>
                <span class="muted small"> expires</span> <Time value={key.expireTime} />
              </>
            )}{" "}
            <button type="button" class="danger" onClick={() => revoke(key.name, key.displayName)} disabled={busy} aria-label={`Revoke ${key.displayName}`}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
