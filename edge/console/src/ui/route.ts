import { useEffect, useState } from "preact/hooks";

/** A console location: the path and query inside the URL's hash, "#/deployments?state=FAILED". */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

/** A path segment as written; a malformed escape is kept as it is rather than breaking the page. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function currentRoute(): Route {
  const [path = "", query = ""] = location.hash.replace(/^#\/?/, "").split("?", 2);
  return { path: path.split("/").filter(Boolean).map(decodeSegment), query: new URLSearchParams(query) };
}

/** The console's location, following the hash (links, back and forward). */
export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** The href of a console location. */
export function href(path: string, query?: URLSearchParams): string {
  const search = query?.toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}

/** Goes to a console location (a new history entry, as a link would). */
export function navigate(path: string, query?: URLSearchParams): void {
  location.hash = href(path, query);
}
