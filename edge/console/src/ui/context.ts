import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { User } from "../../../../gen/launchpad/user/v1/user_pb.js";
import type { Api } from "../api/clients.js";
import type { Permissions } from "./permissions.js";

/** What every page of a signed-in console reads. */
export interface ConsoleContext {
  api: Api;
  user: User;
  can: Permissions;
}

export const ConsoleContext = createContext<ConsoleContext | undefined>(undefined);

/** The signed-in console's API clients, user and permissions. */
export function useConsole(): ConsoleContext {
  const context = useContext(ConsoleContext);
  if (!context) throw new Error("useConsole outside a signed-in console");
  return context;
}
