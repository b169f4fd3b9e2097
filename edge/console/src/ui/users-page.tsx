import { useState } from "preact/hooks";
import { Role, UserKind, UserState, type User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import { ApiKeysPanel } from "./api-keys-panel.js";
import { ErrorMessage, Panel, Time, enumWords } from "./components.js";
import { useConsole } from "./context.js";
import { useAction } from "./use-action.js";
import { useAsync } from "./use-async.js";

const roles = [Role.VIEWER, Role.DEPLOYER, Role.ADMIN, Role.AGENT];

function environmentsOf(text: string): string[] {
  return text.split(",").map((environment) => environment.trim()).filter(Boolean);
}

function RoleFields({ user }: { user?: User }) {
  return (
    <>
      <label>
        Role
        <select name="role">
          {roles.map((role) => (
            <option value={String(role)} selected={role === (user?.role ?? Role.VIEWER)}>
              {enumWords(Role[role])}
            </option>
          ))}
        </select>
      </label>
      <label>
        Environments <span class="muted small">(deployers; comma-separated, empty for all)</span>
        <input name="environments" defaultValue={user?.environments.join(", ") ?? ""} autoComplete="off" />
      </label>
    </>
  );
}

function CreateUserForm({ onCreated }: { onCreated(): void }) {
  const { api } = useConsole();
  const { run, error, busy } = useAction();
  const [kind, setKind] = useState(UserKind.HUMAN);

  async function submit(event: Event) {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const field = (name: string) => String(data.get(name) ?? "").trim();
    await run(async () => {
      await api.users.createUser({
        user: {
          email: field("email"),
          displayName: field("displayName"),
          kind,
          role: Number(field("role")) as Role,
          environments: environmentsOf(field("environments")),
        },
        password: kind === UserKind.HUMAN ? String(data.get("password") ?? "") : "",
      });
      form.reset();
      onCreated();
    });
  }

  return (
    <Panel title="New user">
      <form class="create-user" onSubmit={submit}>
        <label>
          Kind
          <select name="kind" value={String(kind)} onChange={(event) => setKind(Number(event.currentTarget.value) as UserKind)}>
            <option value={String(UserKind.HUMAN)}>person</option>
            <option value={String(UserKind.SERVICE_ACCOUNT)}>service account</option>
          </select>
        </label>
        <label>
          Email
          <input name="email" type="email" required autoComplete="off" />
        </label>
        <label>
          Display name
          <input name="displayName" autoComplete="off" />
        </label>
        <RoleFields />
        {kind === UserKind.HUMAN && (
          <label>
            Initial password <span class="muted small">(12 characters or more)</span>
            <input name="password" type="password" required minLength={12} autoComplete="new-password" />
          </label>
        )}
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </form>
      <ErrorMessage error={error} />
    </Panel>
  );
}

/**
 * Edits one user with its etag: if someone changed the user since this form
 * was loaded, the server refuses (ETAG_MISMATCH) and the form says so
 * instead of overwriting their change.
 */
function EditUser({ user, onChanged }: { user: User; onChanged(): void }) {
  const { api } = useConsole();
  const { run, error, busy } = useAction();
  const [saved, setSaved] = useState(false);

  async function save(event: Event) {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const field = (name: string) => String(data.get(name) ?? "").trim();
    setSaved(false);
    const ok = await run(async () => {
      await api.users.updateUser({
        user: { name: user.name, etag: user.etag, displayName: field("displayName"), role: Number(field("role")) as Role, environments: environmentsOf(field("environments")) },
        updateMask: { paths: ["display_name", "role", "environments"] },
      });
    });
    setSaved(ok);
    if (ok) onChanged();
  }

  async function disable() {
    if (!confirm(`Disable ${user.email}? They will no longer be able to sign in or use their API keys.`)) return;
    if (await run(async () => void (await api.users.deleteUser({ name: user.name, etag: user.etag })))) onChanged();
  }

  return (
    <Panel title={`Edit ${user.email}`}>
      <form class="edit-user" onSubmit={save} key={user.etag}>
        <label>
          Display name
          <input name="displayName" defaultValue={user.displayName} autoComplete="off" />
        </label>
        <RoleFields user={user} />
        <button type="submit" disabled={busy}>
          Save
        </button>
        {user.state === UserState.ACTIVE && (
          <button type="button" class="danger" onClick={disable} disabled={busy}>
            Disable user
          </button>
        )}
      </form>
      {saved && !error && (
        <p class="notice" role="status">
          Saved.
        </p>
      )}
      <ErrorMessage error={error} />
      {user.kind === UserKind.SERVICE_ACCOUNT && <ApiKeysPanel owner={user} />}
    </Panel>
  );
}

/** Users and their API keys, for admins. A viewer who opens this page gets the server's refusal, shown in words. */
export function UsersPage() {
  const { api } = useConsole();
  const [selected, setSelected] = useState<string>();
  const users = useAsync("users", () => api.users.listUsers({ pageSize: 1000, showDeleted: true }));
  const list = users.value?.users ?? [];
  const current = list.find((user) => user.name === selected);

  return (
    <>
      <Panel title="Users">
        <ErrorMessage error={users.error} />
        <div class="table-scroll">
          <table class="users">
            <caption class="visually-hidden">Users and service accounts</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Role</th>
                <th scope="col">Environments</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((user) => (
                <tr key={user.name} data-user={user.email} class={user.name === selected ? "selected" : ""} aria-current={user.name === selected ? "true" : undefined}>
                  <td>{user.email}</td>
                  <td>{user.displayName}</td>
                  <td>{user.kind === UserKind.SERVICE_ACCOUNT ? "service account" : "person"}</td>
                  <td>{enumWords(Role[user.role])}</td>
                  <td>{user.environments.join(", ") || "all"}</td>
                  <td>{enumWords(UserState[user.state])}</td>
                  <td>
                    <Time value={user.createTime} />
                  </td>
                  <td>
                    <button type="button" class="secondary" onClick={() => setSelected(user.name)} aria-label={`Edit ${user.email}`}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Panel>
      {current && <EditUser key={current.name} user={current} onChanged={users.reload} />}
      {!users.error && <CreateUserForm onCreated={users.reload} />}
    </>
  );
}
