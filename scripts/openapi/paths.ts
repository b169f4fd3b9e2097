import type { PathTemplate } from "../../edge/rest/path-template.js";

/**
 * One path parameter of an OpenAPI path made from a `google.api.http` path
 * template: a `*` (one segment) or `**` (the rest of the path) inside a
 * variable such as `{name=users/*}`.
 */
export interface PathParameter {
  /** The parameter's name in the OpenAPI path, for example "user". */
  name: string;
  /** The index of its variable in the template (and of the variable's fields in the binding's request mapping). */
  variable: number;
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
}

/** "users" → "user", "apiKeys" → "apiKey", "policies" → "policy". */
function singular(word: string): string {
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

/**
 * Turns a parsed path template (the REST router's own, edge/rest/path-template.ts)
 * into an OpenAPI path. A variable with a resource pattern is expanded into
 * its literal segments and one parameter per wildcard, named after the
 * collection before it (or after the field, when none is):
 * `/v1/{name=users/*}` becomes `/v1/users/{user}`. Keeping `{name}` as one
 * parameter would make GetUser and GetDeployment the same OpenAPI path
 * (`GET /v1/{name}`), and clients such as Swagger UI would send its slash as
 * %2F. A custom verb stays in the path (`…:cancel`). A wildcard outside any
 * variable binds no field, so OpenAPI cannot name it: refused.
 */
export function openApiPath(template: PathTemplate): OpenApiPath {
  const used = new Set<string>();
  const nameFor = (base: string) => {
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}${n}`;
    used.add(name);
    return name;
  };
  const text = (index: number) => {
    const segment = template.segments[index]!;
    return segment.kind === "literal" ? segment.value : undefined;
  };

  const parameters: PathParameter[] = [];
  const out: string[] = [];
  let at = 0;
  const literalsUpTo = (end: number) => {
    for (; at < end; at++) {
      const literal = text(at);
      if (literal === undefined) throw new Error(`path template ${JSON.stringify(template.source)}: a wildcard outside a variable is not supported`);
      out.push(literal);
    }
  };
  template.variables.forEach(({ fieldPath, start, end }, variable) => {
    literalsUpTo(start);
    const own: PathParameter[] = [];
    const expanded: string[] = [];
    for (; at < end; at++) {
      const literal = text(at);
      if (literal !== undefined) {
        expanded.push(literal);
        continue;
      }
      const previous = at > start ? text(at - 1) : undefined;
      const parameter = { name: nameFor(previous ? singular(previous) : fieldPath.at(-1)!), variable, fieldTemplate: "", multiSegment: template.segments[at]!.kind === "rest" };
      own.push(parameter);
      expanded.push(`{${parameter.name}}`);
    }
    const fieldTemplate = expanded.join("/");
    for (const parameter of own) parameter.fieldTemplate = fieldTemplate;
    parameters.push(...own);
    out.push(fieldTemplate);
  });
  literalsUpTo(template.segments.length);
  return { path: `/${out.join("/")}${template.verb === undefined ? "" : `:${template.verb}`}`, parameters };
}
