import { getOption, hasOption, type DescField, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";
import { methodPath } from "../../services/kit/grpc/service-definition.js";
import { compareSpecificity, matchPathParts, parsePathTemplate, splitRawPath, type PathTemplate } from "./path-template.js";
import { compileRequestMapping, type RequestMapping } from "./request.js";
import { compileResponseBody, successStatus } from "./response.js";
import { compileSseResume, type SseResume } from "./streams.js";

/**
 * One http rule of one method, compiled: how its requests look and how they
 * become a call. The REST router serves it and the OpenAPI generator
 * (scripts/openapi/) describes it, so the two read the rules one way.
 */
export interface RestBinding {
  method: DescMethod;
  /** The gRPC path, "/pkg.Service/Method". */
  path: string;
  /** GET, POST, PUT, PATCH, DELETE, a custom method's verb, or "*" for any. */
  httpMethod: string;
  template: PathTemplate;
  request: RequestMapping;
  responseBody: DescField | undefined;
  successStatus: number;
  /** For a server stream, how its SSE events resume; undefined for a unary method. */
  sse: SseResume | undefined;
  /** Which of the method's rules: 0 for the rule itself, n for its nth additional binding. */
  ruleIndex: number;
}

/** What a request path and method found among the bindings. */
export type BindingMatch =
  | { kind: "found"; binding: RestBinding; variables: string[] }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "none" };

/**
 * Compiles the google.api.http rule (and its additional_bindings) of every
 * method of the services, most specific template first (the order
 * findBinding needs; ties keep declaration order). Throws at start-up on a
 * rule that cannot be served: a malformed template, a field the messages do
 * not have, a client or bidi stream.
 */
export function compileBindings(services: readonly DescService[]): RestBinding[] {
  const bindings: RestBinding[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (!hasOption(method, http)) continue;
      const rule = getOption(method, http);
      [rule, ...rule.additionalBindings].forEach((each, ruleIndex) => {
        const binding = compileRule(method, each, ruleIndex);
        if (binding) bindings.push(binding);
      });
    }
  }
  return bindings.sort((a, b) => compareSpecificity(a.template, b.template));
}

function compileRule(method: DescMethod, rule: HttpRule, ruleIndex: number): RestBinding | undefined {
  const { pattern } = rule;
  if (pattern.case === undefined) return undefined;
  if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming") {
    throw new Error(`${method.parent.typeName}.${method.name}: client streams cannot be transcoded to REST`);
  }
  const [httpMethod, source] =
    pattern.case === "custom" ? [pattern.value.kind.toUpperCase(), pattern.value.path] : [pattern.case.toUpperCase(), pattern.value];
  const template = parsePathTemplate(source);
  return {
    method,
    path: methodPath(method),
    httpMethod,
    template,
    request: compileRequestMapping(method.input, template, rule.body),
    responseBody: compileResponseBody(method.output, rule.responseBody),
    successStatus: successStatus(method, httpMethod),
    sse: method.methodKind === "server_streaming" ? compileSseResume(method) : undefined,
    ruleIndex,
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
