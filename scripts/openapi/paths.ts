/**
 * One path parameter of an OpenAPI path made from a `google.api.http` path
 * template: a `*` (one segment) or `**` (the rest of the path) inside a
 * variable such as `{name=users/*}`.
 */
export interface PathParameter {
  /** The parameter's name in the OpenAPI path, for example "user". */
  name: string;
  /** The request field the variable binds, as a dotted proto path, for example "user.name". */
  fieldPath: string;
  /** What the field is assembled from, for example "users/{user}/apiKeys/{apiKey}". */
  fieldTemplate: string;
  /** True for `**`: the value may contain slashes. */
  multiSegment: boolean;
}

/** An HTTP rule's path template as an OpenAPI path. */
export interface OpenApiPath {
  /** For example "/v1/users/{user}/apiKeys/{apiKey}" or "/v1/deployments/{deployment}:cancel". */
  path: string;
  parameters: PathParameter[];
  /** The request fields bound by the path (dotted proto paths), in order. */
  fieldPaths: string[];
}

/** Splits on `separator` outside `{…}`. */
function splitOutsideBraces(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}") depth--;
    else if (text[i] === separator && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** "users" → "user", "apiKeys" → "apiKey", "policies" → "policy". */
function singular(word: string): string {
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

/**
 * Turns a path template (https://google.aip.dev/127, google/api/http.proto)
 * into an OpenAPI path. A variable with a resource pattern is expanded into
 * its literal segments and one parameter per wildcard, named after the
 * collection before it: `/v1/{name=users/*}` becomes `/v1/users/{user}`.
 * Keeping `{name}` as one parameter would make GetUser and GetDeployment the
 * same OpenAPI path (`GET /v1/{name}`), and clients such as Swagger UI would
 * send its slash as %2F. A custom verb stays in the path (`…:cancel`).
 */
export function openApiPath(template: string): OpenApiPath {
  if (!template.startsWith("/")) throw new Error(`path template ${JSON.stringify(template)} does not start with /`);
  const segments = splitOutsideBraces(template.slice(1), "/");
  const last = splitOutsideBraces(segments.pop()!, ":");
  if (last.length > 2) throw new Error(`path template ${JSON.stringify(template)} has more than one verb`);
  segments.push(last[0]!);
  const verb = last[1];

  const parameters: PathParameter[] = [];
  const fieldPaths: string[] = [];
  const used = new Set<string>();
  const nameFor = (base: string) => {
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}${n}`;
    used.add(name);
    return name;
  };

  const out: string[] = [];
  for (const segment of segments) {
    const variable = /^\{([A-Za-z0-9_.]+)(?:=(.+))?\}$/.exec(segment);
    if (!variable) {
      if (segment.includes("*") || segment.includes("{") || segment === "") {
        throw new Error(`path template ${JSON.stringify(template)}: segment ${JSON.stringify(segment)} is not supported`);
      }
      out.push(segment);
      continue;
    }
    const fieldPath = variable[1]!;
    fieldPaths.push(fieldPath);
    const inner = (variable[2] ?? "*").split("/");
    const own: PathParameter[] = [];
    const expanded: string[] = [];
    inner.forEach((part, i) => {
      if (part !== "*" && part !== "**") {
        expanded.push(part);
        return;
      }
      const previous = i > 0 && inner[i - 1] !== "*" && inner[i - 1] !== "**" ? inner[i - 1]! : undefined;
      // `{name}` alone keeps the field's name; `{name=users/*}` names the parameter after the collection.
      const base = variable[2] === undefined ? fieldPath : previous ? singular(previous) : fieldPath.split(".").pop()!;
      const parameter = { name: nameFor(base), fieldPath, fieldTemplate: "", multiSegment: part === "**" };
      own.push(parameter);
      expanded.push(`{${parameter.name}}`);
    });
    const fieldTemplate = expanded.join("/");
    for (const parameter of own) parameter.fieldTemplate = fieldTemplate;
    parameters.push(...own);
    out.push(fieldTemplate);
  }
  return { path: `/${out.join("/")}${verb === undefined ? "" : `:${verb}`}`, parameters, fieldPaths };
}
