/**
 * google.api.http path templates, parsed once and matched against request
 * paths:
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{name}` is `{name=*}`; `**` matches zero or more segments and must come
 * last (before the verb).
 */

/** One segment of a template: a literal, `*` (one segment) or `**` (the rest). */
export type TemplateSegment = { kind: "literal"; value: string } | { kind: "any" } | { kind: "rest" };

/** A variable: the request field it sets and the segments it captures. */
export interface TemplateVariable {
  /** The field path, split on dots: `user.name` → ["user", "name"]. */
  fieldPath: string[];
  /** Index of its first segment. */
  start: number;
  /** Index after its last segment (for a variable ending in `**`, the segment count of the template). */
  end: number;
}

/** A parsed template. */
export interface PathTemplate {
  source: string;
  segments: TemplateSegment[];
  variables: TemplateVariable[];
  /** The custom verb after the last `:`, as in `/v1/{name=deployments/*}:cancel`. */
  verb: string | undefined;
}

/** Parses a template, throwing an error that quotes it when it is malformed. */
export function parsePathTemplate(source: string): PathTemplate {
  let at = 0;
  const segments: TemplateSegment[] = [];
  const variables: TemplateVariable[] = [];
  const fail = (what: string): never => {
    throw new Error(`invalid path template "${source}" at ${at}: ${what}`);
  };
  const literal = () => {
    const match = /^[^/{}:*=]+/.exec(source.slice(at));
    if (!match) fail("expected a literal");
    at += match![0].length;
    return match![0];
  };
  const segment = () => {
    if (source.startsWith("**", at)) {
      at += 2;
      segments.push({ kind: "rest" });
    } else if (source[at] === "*") {
      at += 1;
      segments.push({ kind: "any" });
    } else {
      segments.push({ kind: "literal", value: literal() });
    }
  };
  const plainSegments = () => {
    segment();
    while (source[at] === "/") {
      at += 1;
      segment();
    }
  };

  if (source[at] !== "/") fail("a template starts with /");
  at += 1;
  for (;;) {
    if (source[at] === "{") {
      at += 1;
      const match = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(source.slice(at));
      if (!match) fail("expected a field path");
      at += match![0].length;
      const start = segments.length;
      if (source[at] === "=") {
        at += 1;
        plainSegments();
      } else {
        segments.push({ kind: "any" });
      }
      if (source[at] !== "}") fail("expected }");
      at += 1;
      variables.push({ fieldPath: match![0].split("."), start, end: segments.length });
    } else {
      segment();
    }
    if (source[at] !== "/") break;
    at += 1;
  }
  let verb: string | undefined;
  if (source[at] === ":") {
    at += 1;
    verb = literal();
  }
  if (at !== source.length) fail("unexpected character");
  const rest = segments.findIndex((s) => s.kind === "rest");
  if (rest !== -1 && rest !== segments.length - 1) fail("** must be the last segment");
  return { source, segments, variables, verb };
}

/** A raw request path (no query) split at "/" for matching, the leading "/" dropped; undefined when it does not start with "/". */
export function splitRawPath(rawPath: string): string[] | undefined {
  return rawPath.startsWith("/") ? rawPath.slice(1).split("/") : undefined;
}

/**
 * Matches a raw (still percent-encoded) request path, without its query.
 * Returns the value of each variable, in template order (captured segments
 * percent-decoded and joined with "/"), or undefined when it does not match.
 */
export function matchPathTemplate(template: PathTemplate, rawPath: string): string[] | undefined {
  const parts = splitRawPath(rawPath);
  return parts && matchPathParts(template, parts);
}

/** matchPathTemplate on a path already split by splitRawPath, so one split serves every template tried. */
export function matchPathParts(template: PathTemplate, rawParts: readonly string[]): string[] | undefined {
  let parts = rawParts;
  if (template.verb !== undefined) {
    const suffix = `:${template.verb}`;
    const last = parts[parts.length - 1]!;
    if (!last.endsWith(suffix)) return undefined;
    parts = [...parts.slice(0, -1), last.slice(0, -suffix.length)];
  }
  const { segments } = template;
  const open = segments.at(-1)?.kind === "rest";
  if (open ? parts.length < segments.length - 1 : parts.length !== segments.length) return undefined;

  const decoded: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    // Parts beyond the template's segments are all matched by its final `**`.
    const segment = segments[Math.min(i, segments.length - 1)]!;
    const part = decodeSegment(parts[i]!);
    if (part === undefined) return undefined;
    if (segment.kind === "literal" && part !== segment.value) return undefined;
    if (segment.kind === "any" && part === "") return undefined;
    decoded.push(part);
  }
  // A `**` that matched nothing leaves parts one short of the segments.
  return template.variables.map((v) => decoded.slice(v.start, v.end === segments.length && open ? decoded.length : v.end).join("/"));
}

/** A percent-decoded path segment; undefined when its escapes are malformed. */
function decodeSegment(part: string): string | undefined {
  if (!part.includes("%")) return part;
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

/**
 * Orders templates most specific first, so the first match wins: a custom
 * verb beats none, then more literal segments, then more `*` (fewer `**`),
 * then more segments.
 */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  const key = (t: PathTemplate) => [
    t.verb === undefined ? 0 : 1,
    t.segments.filter((s) => s.kind === "literal").length,
    t.segments.filter((s) => s.kind === "rest").length === 0 ? 1 : 0,
    t.segments.length,
  ];
  const [ka, kb] = [key(a), key(b)];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return kb[i]! - ka[i]!;
  return 0;
}
