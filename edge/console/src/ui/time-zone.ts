import { createContext } from "preact";
import { useContext } from "preact/hooks";

/** The viewer's time zone: their preference when set, otherwise the browser's. */
export const TimeZoneContext = createContext<string | undefined>(undefined);

/** The IANA time zone to show times in (undefined: the browser's own). */
export function useTimeZone(): string | undefined {
  return useContext(TimeZoneContext);
}
