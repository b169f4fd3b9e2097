import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { create, createRegistry, getOption, toJson, type DescMessage, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { anyPack, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http } from "../../gen/google/api/annotations_pb.js";
import { FieldBehavior, field_behavior } from "../../gen/google/api/field_behavior_pb.js";
import { BadRequestSchema, BadRequest_FieldViolationSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { access } from "../../gen/launchpad/auth/v1/policy_pb.js";
import { DeploymentSchema, DeploymentState, file_launchpad_deployment_v1_deployment } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import {
  DeploymentService,
  file_launchpad_deployment_v1_deployment_service,
  WatchDeploymentResponseSchema,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { file_launchpad_user_v1_user, Role, Theme, UserSchema } from "../../gen/launchpad/user/v1/user_pb.js";
import { file_launchpad_user_v1_user_service, UserService } from "../../gen/launchpad/user/v1/user_service_pb.js";
import { createDocsEndpoints } from "../../edge/endpoints/docs.js";
import { startEdge, type RunningEdge } from "../../edge/main.js";
import { loadEdgeConfig } from "../../edge/config.js";
import { compileBindings, findBinding } from "../../edge/rest/bindings.js";
import { restRefusalReasons } from "../../edge/rest/refusals.js";
import { generateOpenApiJson } from "../../scripts/openapi/generate.js";
import { capturedLogger } from "../support/captured-logger.js";

type Json = Record<string, any>;

const documentUrl = new URL("../../gen/openapi.json", import.meta.url);
const documentText = readFileSync(documentUrl, "utf8");
const doc: Json = JSON.parse(documentText);
const schemas: Record<string, Json> = doc["components"]["schemas"];

const methods: DescMethod[] = [...DeploymentService.methods, ...UserService.methods];
const httpMethods = ["get", "put", "post", "delete", "patch"] as const;

/** Every operation of the document, with its method and path. */
const operations = Object.entries(doc["paths"] as Record<string, Json>).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([verb]) => (httpMethods as readonly string[]).includes(verb))
    .map(([verb, operation]) => ({ path, verb, operation: operation as Json })),
);

function operationOf(method: DescMethod) {
  const found = operations.filter(({ operation }) => operation["operationId"] === `${method.parent.name}_${method.name}`);
  expect(found, `${method.parent.name}.${method.name}`).toHaveLength(1);
  return found[0]!;
}

function deref(schema: Json): Json {
  const ref: string | undefined = schema["$ref"];
  return ref ? schemas[ref.replace("#/components/schemas/", "")]! : schema;
}

/** A path template or OpenAPI path with every variable replaced by its wildcards: "/v1/{name=users/*}" and "/v1/users/{user}" are both "/v1/users/*". */
function shape(path: string): string {
  return path.replace(/\{([^}=]+)(?:=([^}]+))?\}/g, (_whole, _field, pattern?: string) => pattern ?? "*");
}

/** JSON Schema 2020-12 validation of payloads against the document's component schemas. */
function payloadValidator() {
  const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
  const ajv = addFormats(new Ajv2020({ strict: true, allErrors: true }));
  ajv.addKeyword("x-oneofs");
  ajv.addSchema({ $id: "urn:launchpad:openapi", $defs: JSON.parse(JSON.stringify(schemas).replaceAll("#/components/schemas/", "#/$defs/")) });
  return (name: string, value: JsonValue) => {
    const validate = ajv.compile({ $ref: `urn:launchpad:openapi#/$defs/${name}` });
    return validate(value) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`);
  };
}

describe("the OpenAPI document (gen/openapi.json)", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("has component schemas that compile as strict JSON Schema 2020-12, with every $ref resolving", () => {
    const validate = payloadValidator();
    for (const name of Object.keys(schemas)) expect(() => validate(name, {}), name).not.toThrow();
  });

  it("describes the proto3 JSON that protobuf-es writes: lowerCamelCase, int64 strings, enum names, RFC 3339 times, maps", () => {
    const validate = payloadValidator();
    const deployment = create(DeploymentSchema, {
      name: "deployments/d1",
      service: "checkout",
      version: "1.4.2",
      environment: "production",
      labels: { commit: "abc123" },
      state: DeploymentState.IN_PROGRESS,
      progressPercent: 40,
      createTime: timestampFromDate(new Date("2024-05-01T12:00:00Z")),
      revision: 9007199254740993n,
    });
    const json = toJson(DeploymentSchema, deployment);
    expect(json).toMatchObject({ progressPercent: 40, revision: "9007199254740993", state: "DEPLOYMENT_STATE_IN_PROGRESS" });
    expect(validate("launchpad.deployment.v1.Deployment", json)).toEqual([]);
    const user = create(UserSchema, { name: "users/u1", email: "a@example.com", role: Role.ADMIN, preferences: { theme: Theme.DARK } });
    expect(validate("launchpad.user.v1.User", toJson(UserSchema, user))).toEqual([]);
    const watch = create(WatchDeploymentResponseSchema, { kind: { case: "snapshot", value: deployment }, revision: 3n });
    expect(validate("launchpad.deployment.v1.WatchDeploymentResponse", toJson(WatchDeploymentResponseSchema, watch))).toEqual([]);

    expect(validate("launchpad.deployment.v1.Deployment", { ...(json as Json), revision: 9 })).not.toEqual([]);
    expect(validate("launchpad.deployment.v1.Deployment", { ...(json as Json), state: 2 })).not.toEqual([]);
    expect(validate("launchpad.deployment.v1.Deployment", { ...(json as Json), createTime: "yesterday" })).not.toEqual([]);
  });

  it("describes errors as google.rpc.Status JSON with ErrorInfo and BadRequest details", () => {
    const validate = payloadValidator();
    const status = create(StatusSchema, {
      code: 9,
      message: "deployment deployments/d0 is in progress",
      details: [
        anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "DEPLOYMENT_IN_PROGRESS", domain: "launchpad", metadata: { deployment: "deployments/d0" } })),
        anyPack(BadRequestSchema, create(BadRequestSchema, { fieldViolations: [create(BadRequest_FieldViolationSchema, { field: "deployment.service", description: "required" })] })),
      ],
    });
    const json = toJson(StatusSchema, status, { registry: createRegistry(ErrorInfoSchema, BadRequestSchema) });
    expect(validate("google.rpc.Status", json)).toEqual([]);

    const errorInfo = { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: 7 };
    expect(validate("google.rpc.Status", { code: 9, details: [errorInfo] })).not.toEqual([]);
    const retryInfo = { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "3s" };
    expect(validate("google.rpc.Status", { code: 8, details: [retryInfo] })).toEqual([]);
    expect(doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]).toEqual({ $ref: "#/components/schemas/google.rpc.Status" });
    for (const { operation } of operations) {
      expect(operation["responses"]["default"]).toEqual({ $ref: "#/components/responses/Error" });
      expect(operation["responses"]["400"]).toEqual({ $ref: "#/components/responses/BadRequest" });
    }
  });

  it("has every RPC with an http rule exactly once, under its method and path, with operationId Service_Method and its service's tag", () => {
    const ruled = methods.filter((method) => getOption(method, http).pattern.case !== undefined);
    expect(ruled).toHaveLength(methods.length);
    expect(operations).toHaveLength(ruled.length);
    for (const method of ruled) {
      const rule = getOption(method, http);
      const { path, verb, operation } = operationOf(method);
      expect(verb, method.name).toBe(rule.pattern.case);
      expect(shape(path), method.name).toBe(shape(rule.pattern.value as string));
      expect(operation["tags"]).toEqual([method.parent.name]);
      expect(operation["summary"]).toMatch(new RegExp(`^${method.name} `));
    }
    expect(doc["tags"].map((tag: Json) => tag["name"])).toEqual(["DeploymentService", "UserService"]);
  });

  it("turns resource patterns into path parameters and keeps custom verbs", () => {
    expect(operationOf(UserService.method.getUser).path).toBe("/v1/users/{user}");
    expect(operationOf(UserService.method.updateUser)).toMatchObject({ verb: "patch", path: "/v1/users/{user}" });
    expect(operationOf(UserService.method.login)).toMatchObject({ verb: "post", path: "/v1/auth:login" });
    expect(operationOf(DeploymentService.method.cancelDeployment).path).toBe("/v1/deployments/{deployment}:cancel");
    const { path, operation } = operationOf(UserService.method.deleteApiKey);
    expect(path).toBe("/v1/users/{user}/apiKeys/{apiKey}");
    const parameters = operation["parameters"] as Json[];
    expect(parameters.map((p) => [p["name"], p["in"], p["required"], p["schema"]["pattern"]])).toEqual([
      ["user", "path", true, "^[^/]+$"],
      ["apiKey", "path", true, "^[^/]+$"],
    ]);
    expect(parameters[0]!["description"]).toContain("`name` = `users/{user}/apiKeys/{apiKey}`");
  });

  it("maps bodies and query parameters from the http rule", () => {
    const create = operationOf(DeploymentService.method.createDeployment).operation;
    expect(create["requestBody"]["required"]).toBe(true);
    expect(create["requestBody"]["content"]["application/json"]["schema"]).toEqual({ $ref: "#/components/schemas/launchpad.deployment.v1.Deployment" });
    expect(create["parameters"].map((p: Json) => p["name"])).toEqual(["requestId"]);

    const list = operationOf(DeploymentService.method.listDeployments).operation;
    expect(list["requestBody"]).toBeUndefined();
    expect(list["parameters"].map((p: Json) => `${p["in"]}:${p["name"]}`)).toEqual(["query:pageSize", "query:pageToken", "query:filter", "query:orderBy"]);

    // body "*": every field not in the path, and no query parameters.
    const cancel = operationOf(DeploymentService.method.cancelDeployment).operation;
    expect(Object.keys(cancel["requestBody"]["content"]["application/json"]["schema"]["properties"])).toEqual(["reason", "etag"]);
    expect(cancel["parameters"].map((p: Json) => p["in"])).toEqual(["path"]);

    const update = operationOf(UserService.method.updateUser).operation;
    expect(update["parameters"].find((p: Json) => p["name"] === "updateMask")).toMatchObject({ in: "query", required: true, schema: { type: "string" } });
  });

  it("takes required, readOnly and writeOnly from google.api.field_behavior", () => {
    const body = deref(operationOf(DeploymentService.method.createDeployment).operation["requestBody"]["content"]["application/json"]["schema"]);
    expect(body["required"]).toEqual(["service", "version", "environment"]);
    expect(body["properties"]["state"]).toMatchObject({ readOnly: true, $ref: "#/components/schemas/launchpad.deployment.v1.DeploymentState" });
    expect(body["properties"]["createTime"]).toMatchObject({ readOnly: true, type: "string", format: "date-time" });
    expect(body["properties"]["service"]["readOnly"]).toBeUndefined();
    expect(schemas["launchpad.user.v1.LoginRequest"]!["properties"]["password"]).toMatchObject({ writeOnly: true });

    // And in general: every component of a Launchpad message agrees with its descriptor.
    const registry = createRegistry(
      file_launchpad_deployment_v1_deployment,
      file_launchpad_deployment_v1_deployment_service,
      file_launchpad_user_v1_user,
      file_launchpad_user_v1_user_service,
    );
    const checked: string[] = [];
    for (const [name, schema] of Object.entries(schemas)) {
      const message: DescMessage | undefined = registry.getMessage(name);
      if (!message) continue;
      checked.push(name);
      const required = message.fields.filter((f) => getOption(f, field_behavior).includes(FieldBehavior.REQUIRED)).map((f) => f.jsonName);
      expect(schema["required"] ?? [], name).toEqual(required);
      for (const field of message.fields) {
        const behaviors = getOption(field, field_behavior);
        const property = schema["properties"][field.jsonName];
        expect(property, `${name}.${field.jsonName}`).toBeDefined();
        expect(property["readOnly"] === true, `${name}.${field.jsonName} readOnly`).toBe(behaviors.includes(FieldBehavior.OUTPUT_ONLY));
        expect(property["writeOnly"] === true, `${name}.${field.jsonName} writeOnly`).toBe(behaviors.includes(FieldBehavior.INPUT_ONLY));
      }
    }
    expect(checked).toContain("launchpad.deployment.v1.Deployment");
    expect(checked).toContain("launchpad.user.v1.User");
  });

  it("documents oneofs, maps, int64, enums and descriptions from comments", () => {
    const deployment = schemas["launchpad.deployment.v1.Deployment"]!;
    expect(deployment["description"]).toBe("Deployment is one version of one service rolled out to one environment.");
    expect(deployment["properties"]["labels"]).toMatchObject({ type: "object", additionalProperties: { type: "string" } });
    expect(deployment["properties"]["revision"]).toMatchObject({ type: "string", format: "int64" });
    const state = schemas["launchpad.deployment.v1.DeploymentState"]!;
    expect(state["type"]).toBe("string");
    expect(state["enum"]).toContain("DEPLOYMENT_STATE_SUPERSEDED");
    expect(state["description"]).toContain("- `DEPLOYMENT_STATE_PENDING` waits for an agent to pick it up.");
    const watch = schemas["launchpad.deployment.v1.WatchDeploymentResponse"]!;
    expect(watch["x-oneofs"]).toEqual({ kind: ["snapshot", "change", "heartbeat"] });
    expect(watch["description"]).toContain("At most one of `snapshot`, `change`, `heartbeat` is set");
    expect(schemas["launchpad.user.v1.User"]!["properties"]["preferences"]["description"]).toBe("preferences are the user's own settings for the console.");
  });

  it("answers creates with 201 and documents server streams as NDJSON and SSE", () => {
    for (const method of methods) {
      const { verb, operation } = operationOf(method);
      const created = verb === "post" && method.name.startsWith("Create");
      expect(Object.keys(operation["responses"])[0], method.name).toBe(created ? "201" : "200");
      const content = operation["responses"][created ? "201" : "200"]["content"];
      const output = { $ref: `#/components/schemas/${method.output.typeName}` };
      if (method.methodKind === "server_streaming") {
        expect(Object.keys(content), method.name).toEqual(["application/x-ndjson", "text/event-stream"]);
        expect(content["application/x-ndjson"]["schema"]["anyOf"]).toEqual([
          output,
          { type: "object", properties: { error: { $ref: "#/components/schemas/google.rpc.Status" } }, required: ["error"] },
        ]);
      } else {
        expect(content, method.name).toEqual({ "application/json": { schema: output } });
      }
    }
    expect(methods.filter((m) => m.methodKind === "server_streaming").map((m) => m.name)).toEqual(["WatchDeployment", "WatchDeployments", "StreamUsers", "WatchIdentityChanges"]);
  });

  it("lets public methods be called without credentials and names the permission of the others", () => {
    expect(doc["components"]["securitySchemes"]["bearer"]).toMatchObject({ type: "http", scheme: "bearer" });
    const publicOnes: string[] = [];
    for (const method of methods) {
      const { operation } = operationOf(method);
      const policy = getOption(method, access);
      if (policy.rule.case === "public") {
        publicOnes.push(method.name);
        expect(operation["security"], method.name).toEqual([]);
        expect(operation["responses"]["403"]).toBeUndefined();
      } else {
        expect(operation["security"], method.name).toEqual([{ bearer: [] }]);
        expect(operation["responses"]["401"]).toEqual({ $ref: "#/components/responses/Unauthenticated" });
      }
      if (policy.rule.case === "permission") expect(operation["description"], method.name).toContain(`requires the \`${policy.rule.value}\` permission`);
    }
    expect(publicOnes).toEqual(["Login", "RefreshToken", "Logout", "GetJwks", "AuthenticateApiKey", "WatchIdentityChanges"]);
  });
});

describe("the OpenAPI document and the REST router", () => {
  const bindings = compileBindings([DeploymentService, UserService]);

  it("agree on every binding: its verb and path, its path parameters, its success status", () => {
    expect(bindings).toHaveLength(operations.length);
    for (const binding of bindings) {
      const id = `${binding.method.parent.name}_${binding.method.name}${binding.ruleIndex === 0 ? "" : `_${binding.ruleIndex + 1}`}`;
      const found = operations.filter(({ operation }) => operation["operationId"] === id);
      expect(found, id).toHaveLength(1);
      const { path, verb, operation } = found[0]!;
      expect(verb, id).toBe(binding.httpMethod.toLowerCase());

      const placeholders = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
      const pathParameters = ((operation["parameters"] ?? []) as Json[]).filter((p) => p["in"] === "path");
      expect(pathParameters.map((p) => p["name"]), id).toEqual(placeholders);
      // The documented path, each parameter given a value, reaches this binding, and its
      // variables are what the parameters say they fill (`name` = `users/{user}`).
      const values = Object.fromEntries(placeholders.map((name, i) => [name, `value${i}`]));
      const fill = (text: string) => text.replace(/\{([^}]+)\}/g, (_whole, name: string) => values[name]!);
      const fieldTemplates = pathParameters.map((p) => /` = `([^`]+)`\.$/.exec(p["description"] ?? "")?.[1] ?? `{${p["name"]}}`);
      expect(findBinding(bindings, binding.httpMethod, fill(path)), id).toEqual({ kind: "found", binding, variables: [...new Set(fieldTemplates)].map(fill) });

      expect(Object.keys(operation["responses"])[0], id).toBe(String(binding.successStatus));
    }
  });

  it("agree on the ErrorInfo reasons the edge refuses a REST request with", () => {
    const description: string = doc["components"]["responses"]["BadRequest"]["description"];
    for (const reason of Object.keys(restRefusalReasons)) expect(description).toContain(`\`${reason}\``);
  });
});

describe("npm run generate's OpenAPI step", () => {
  beforeAll(() => {
    // .proto-deps/ is written by `npm run generate`; a fresh clone may not have it yet.
    if (!existsSync(new URL("../../.proto-deps", import.meta.url))) execFileSync(process.execPath, ["scripts/proto-deps.js"]);
  });

  it("gives byte-identical output every time, equal to gen/openapi.json", () => {
    const first = generateOpenApiJson();
    const second = generateOpenApiJson();
    expect(second).toBe(first);
    expect(first, "gen/openapi.json is stale: run npm run generate").toBe(documentText);
  });
});

/** GETs a path of a server; the body as text. */
async function get(base: string, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(new URL(path, base), { headers, redirect: "manual" });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

// The edge serves /docs under `script-src 'self'` (edge/protections/security-headers.ts):
// the page must load every script from a file of this origin, with no inline script or handler.
describe("the docs endpoints (createDocsEndpoints on a plain node:http server)", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    const endpoints = createDocsEndpoints();
    server = createServer((req, res) => {
      const endpoint = req.method === "GET" ? endpoints[(req.url ?? "").split("?")[0]!] : undefined;
      if (!endpoint) return void res.writeHead(404).end();
      endpoint(req, res).catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("serves gen/openapi.json as it is, as JSON, revalidated by ETag", async () => {
    const first = await get(base, "/openapi.json");
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/json");
    expect(first.headers.get("cache-control")).toBe("no-cache");
    expect(first.body).toBe(documentText);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);
    const again = await get(base, "/openapi.json", { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect(again.body).toBe("");
  });

  it("serves /docs as a page whose scripts are all same-origin files, none inline", async () => {
    const page = await get(base, "/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-cache");

    const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    expect(page.body.match(/<script\b/g)).toHaveLength(scripts.length);
    const pageUrl = new URL("/docs", base);
    const referenced: string[] = [];
    for (const [, attributes, inline] of scripts) {
      expect(inline!.trim(), "inline script").toBe("");
      expect(attributes).not.toMatch(/\son\w+=/);
      const src = /\ssrc="([^"]+)"/.exec(attributes!)?.[1];
      expect(src, "script without src").toBeDefined();
      const url = new URL(src!, pageUrl);
      expect(url.origin, src).toBe(pageUrl.origin);
      referenced.push(url.pathname + url.search);
    }
    expect(page.body).not.toMatch(/\son[a-z]+=/i);
    for (const [, href] of page.body.matchAll(/<link\b[^>]*\shref="([^"]+)"/g)) {
      const url = new URL(href!, pageUrl);
      expect(url.origin, href).toBe(pageUrl.origin);
      referenced.push(url.pathname + url.search);
    }

    for (const path of referenced) {
      const asset = await get(base, path);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get("cache-control"), path).toBe("public, max-age=31536000, immutable");
      expect(asset.headers.get("content-type"), path).toMatch(/^(text\/javascript|text\/css|image\/png)/);
    }
    expect(referenced.some((path) => path.startsWith("/docs/swagger-ui-bundle.js?v="))).toBe(true);

    const initializer = await get(base, referenced.find((path) => path.startsWith("/docs/launchpad-docs.js"))!);
    expect(initializer.body).toContain('"openapi.json"');
    expect(initializer.body).toContain("SwaggerUIBundle(");
  });

  it("sends /docs/ to /docs, and serves Swagger UI's source maps", async () => {
    const slash = await get(base, "/docs/");
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.get("location")!, new URL("/docs/", base)).pathname).toBe("/docs");
    const map = await get(base, "/docs/swagger-ui-bundle.js.map");
    expect(map.status).toBe(200);
    expect(map.headers.get("content-type")).toBe("application/json");
  });
});

// Until edge/server.ts puts createDocsEndpoints() in its endpoint map, the
// suite above serves them on a plain server; once it does, the real edge is checked too.
const wired = readFileSync(new URL("../../edge/server.ts", import.meta.url), "utf8").includes("createDocsEndpoints");

describe.runIf(wired)("the running edge", () => {
  let edge: RunningEdge;

  beforeAll(async () => {
    const config = loadEdgeConfig({ env: { LAUNCHPAD_EDGE_PORT: "0", LAUNCHPAD_LISTEN_HOST: "127.0.0.1", LAUNCHPAD_LOG_LEVEL: "silent" }, argv: [] });
    edge = await startEdge(config, capturedLogger("edge").logger);
  });
  afterAll(() => edge?.stop());

  it("serves gen/openapi.json at /openapi.json and the docs page at /docs", async () => {
    const base = `http://127.0.0.1:${edge.port}`;
    const served = await get(base, "/openapi.json");
    expect(served.status).toBe(200);
    expect(served.body).toBe(documentText);
    const page = await get(base, "/docs");
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="swagger-ui">');
    // The edge's security headers (edge/protections) set the policy the page was written for, once they are wired.
    const csp = page.headers.get("content-security-policy");
    if (csp !== null) expect(csp).toContain("script-src 'self'");
  });
});
