import { useEffect, useMemo, useState } from "preact/hooks";
import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import { createSession } from "../api/session.js";
import { ErrorMessage } from "./components.js";
import { ConsoleContext } from "./context.js";
import { DeploymentPage } from "./deployment-page.js";
import { DeploymentsPage } from "./deployments-page.js";
import { EnvironmentsPage } from "./environments-page.js";
import { permissionsOf } from "./permissions.js";
import { href, useRoute, type Route } from "./route.js";
import { SignIn } from "./sign-in.js";
import { TimeZoneContext } from "./time-zone.js";
import { UsersPage } from "./users-page.js";

function Page({ route }: { route: Route }) {
  const [section, id] = route.path;
  if (section === "deployments" && id) return <DeploymentPage key={id} id={id} />;
  if (section === "environments") return <EnvironmentsPage />;
  if (section === "users") return <UsersPage />;
  return <DeploymentsPage query={route.query} />;
}

const titles: Record<string, string> = { deployments: "Deployments", environments: "Environments", users: "Users" };

function NavLink({ path, current, children }: { path: string; current: string; children: string }) {
  return (
    <a href={href(path)} aria-current={current === path ? "page" : undefined}>
      {children}
    </a>
  );
}

/** The console: resumes or asks for a sign-in, then shows the page the URL's hash names. */
export function App() {
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [signOutError, setSignOutError] = useState<unknown>();
  const session = useMemo(() => createSession(() => setUser(null)), []);
  const route = useRoute();

  useEffect(() => {
    session.resume().then(
      (resumed) => setUser(resumed ?? null),
      () => setUser(null),
    );
  }, [session]);

  const context = useMemo(() => (user ? { api: session.api, user, can: permissionsOf(user) } : undefined), [session, user]);
  if (user === undefined) return <p class="loading">Loading…</p>;
  if (!context) return <SignIn session={session} onSignedIn={setUser} />;

  // Signed out here whatever the server said: the user asked to leave.
  const signOut = () => session.signOut().catch(setSignOutError).finally(() => setUser(null));
  const section = route.path[0] ?? "deployments";
  document.title = `${titles[section] ?? "Deployments"} · Launchpad`;
  return (
    <ConsoleContext.Provider value={context}>
      <TimeZoneContext.Provider value={context.user.preferences?.timeZone || undefined}>
        <header class="top">
          <a class="brand" href={href("deployments")}>
            Launchpad
          </a>
          <nav aria-label="Sections">
            <NavLink path="deployments" current={section}>
              Deployments
            </NavLink>
            <NavLink path="environments" current={section}>
              Environments
            </NavLink>
            {context.can.manageUsers && (
              <NavLink path="users" current={section}>
                Users
              </NavLink>
            )}
          </nav>
          <div class="who">
            <span class="who-email">{context.user.email}</span>
            <button type="button" class="secondary" onClick={signOut}>
              Sign out
            </button>
          </div>
        </header>
        <main class="content">
          <ErrorMessage error={signOutError} />
          <Page route={route} />
        </main>
      </TimeZoneContext.Provider>
    </ConsoleContext.Provider>
  );
}
