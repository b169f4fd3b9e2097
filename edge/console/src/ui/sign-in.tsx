import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import type { Session } from "../api/session.js";
import { ErrorMessage } from "./components.js";
import { useAction } from "./use-action.js";

/** The sign-in form: email and password, exchanged for a session by Login. */
export function SignIn({ session, onSignedIn }: { session: Session; onSignedIn(user: User): void }) {
  const { run, error, busy } = useAction();

  async function submit(event: Event) {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    await run(async () => {
      const user = await session.signIn(String(data.get("email") ?? "").trim(), String(data.get("password") ?? ""));
      if (user) onSignedIn(user);
    });
  }

  return (
    <main class="sign-in">
      <h1>Launchpad</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label>
          Email
          <input name="email" type="email" required autoComplete="username" autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" required autoComplete="current-password" />
        </label>
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
      <ErrorMessage error={error} />
    </main>
  );
}
