import { getOption, hasOption, type DescField, type DescMethod } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import type { Route } from "../connect-routes.js";
import type { Upstream } from "../upstream/forward.js";
import { compareSpecificity, matchPathParts, parsePathTemplate, splitRawPath, type PathTemplate } from "./path-template.js";
import { compileRequestMapping, type RequestMapping } from "./request.js";
import { compileResponseBody, successStatus } from "./response.js";

/** One http rule of one method, compiled: how to recognise its requests and build its call. */
export interface RestBinding {
  method: DescMethod;
  /** The gRPC path, "/pkg.Service/Method". */
  path: string;
  upstream: Upstream;
  /** GET, POST, PUT, PATCH, DELETE, a custom method's verb, or "*" for any. */
  httpMethod: string;
  template: PathTemplate;
  request: RequestMapping;
  responseBody: DescField | undefined;
  successStatus: number;
}

/** What a request path and method found among the bindings. */
export type BindingMatch =
  | { kind: "found"; binding: RestBinding; variables: string[] }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "none" };

/**
 * Compiles the google.api.http rule (and its additional_bindings) of every
 * method of every route, most specific template first. Throws at start-up
 * on a rule that names a field the messages do not have.
 */
export function compileBindings(routes: readonly Route[]): RestBinding[] {
  const bindings: RestBinding[] = [];
  for (const { service, upstream } of routes) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      for (const each of [rule, ...rule.additionalBindings]) {
        const binding = compileRule(method, upstream, each);
        if (binding) bindings.push(binding);
      }
    }
  }
  return bindings.sort((a, b) => compareSpecificity(a.template, b.template));
}

function compileRule(method: DescMethod, upstream: Upstream, rule: HttpRule): RestBinding | undefined {
  const { pattern } = rule;
  if (pattern.case === undefined) return undefined;
  const [httpMethod, source] =
    pattern.case === "custom" ? [pattern.value.kind.toUpperCase(), pattern.value.path] : [pattern.case.toUpperCase(), pattern.value];
  const template = parsePathTemplate(source);
  return {
    method,
    path: methodPath(method),
    upstream,
    httpMethod,
    template,
    request: compileRequestMapping(method.input, template, rule.body),
    responseBody: compileResponseBody(method.output, rule.responseBody),
    successStatus: successStatus(method, httpMethod),
  };
}

const none: BindingMatch = { kind: "none" };

/** The most specific binding for a method and raw path; the methods allowed when only the method is wrong. */
export function findBinding(bindings: readonly RestBinding[], httpMethod: string, rawPath: string): BindingMatch {
  const parts = splitRawPath(rawPath);
  if (!parts) return none;
  let allowed: Set<string> | undefined;
  for (const binding of bindings) {
    const variables = matchPathParts(binding.template, parts);
    if (!variables) continue;
    if (binding.httpMethod === httpMethod || binding.httpMethod === "*") return { kind: "found", binding, variables };
    (allowed ??= new Set()).add(binding.httpMethod);
  }
  return allowed ? { kind: "method-not-allowed", allowed: [...allowed].sort() } : none;
}
