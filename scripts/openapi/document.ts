import {
  createFileRegistry,
  getOption,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  type FileRegistry,
} from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { FieldBehavior } from "../../gen/google/api/field_behavior_pb.js";
import { access } from "../../gen/launchpad/auth/v1/policy_pb.js";
import { compileBindings, type RestBinding } from "../../edge/rest/bindings.js";
import { resolveFieldPath, type RequestMapping } from "../../edge/rest/request.js";
import type { SseResume } from "../../edge/rest/streams.js";
import { commentOf, firstSentence } from "./comments.js";
import { defineStatusSchema, errorComponents, errorResponseRef, statusesMentioned } from "./errors.js";
import { openApiPath } from "./paths.js";
import { behaviorsOf, hasScalarJson, join, refTo, SchemaBuilder, type Json } from "./schemas.js";

/** The name of the security scheme every non-public operation requires. */
export const bearerScheme = "bearer";

const httpMethods = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

/** A chain of fields as a dotted path in JSON names: "user.displayName". */
function jsonPath(fields: readonly DescField[]): string {
  return fields.map((field) => field.jsonName).join(".");
}

/** The sentence on who may call a method, from its `(launchpad.auth.v1.access)` policy. */
function accessNote(method: DescMethod): { text: string; isPublic: boolean; permission: boolean } {
  const policy = getOption(method, access);
  const self = policy.selfField
    ? ` Callers without it may still call the method when \`${jsonPath(resolveFieldPath(method.input, policy.selfField.split("."), `the access policy of ${method.name}`))}\` names themselves or one of their own sub-resources.`
    : "";
  switch (policy.rule.case) {
    case "public":
      return { text: "**Access:** public; no credentials needed.", isPublic: policy.rule.value, permission: false };
    case "authenticated":
      return { text: `**Access:** any signed-in caller.${self}`, isPublic: false, permission: false };
    case "permission":
      return { text: `**Access:** requires the \`${policy.rule.value}\` permission.${self}`, isPublic: false, permission: true };
    default:
      return { text: "**Access:** the method declares no access policy, so every call is refused.", isPublic: false, permission: false };
  }
}

/** A binding's HTTP method as an OpenAPI operation key: "get", "post"…; "*" (any method) has none. */
function verbOf(binding: RestBinding): string {
  const verb = binding.httpMethod.toLowerCase();
  if (!httpMethods.has(verb)) {
    throw new Error(`${binding.method.parent.typeName}.${binding.method.name}: HTTP rule with method ${JSON.stringify(verb)} cannot be described in OpenAPI`);
  }
  return verb;
}

/** Builds the document of some services; the registry supplies google.rpc.Status and its details. */
class DocumentBuilder {
  readonly #schemas = new SchemaBuilder();
  readonly #paths: Record<string, Json> = {};

  constructor(
    readonly services: readonly DescService[],
    readonly registry: FileRegistry,
  ) {}

  build(): Json {
    defineStatusSchema(this.#schemas, this.registry);
    // The REST router's bindings, in declaration order (they come most specific first).
    const bindings = compileBindings(this.services);
    for (const service of this.services) {
      for (const method of service.methods) {
        const own = bindings.filter((binding) => binding.method === method).sort((a, b) => a.ruleIndex - b.ruleIndex);
        for (const binding of own) this.#addOperation(binding);
      }
    }
    return {
      openapi: "3.1.0",
      info: {
        title: "Launchpad API",
        version: "v1",
        description: join(
          "Launchpad is a deployment control plane. This is the REST/JSON form of its gRPC services, transcoded from each method's `google.api.http` rule; the same methods are served over Connect, gRPC-Web and gRPC at `/<package>.<Service>/<Method>`.",
          "Bodies are proto3 JSON: lowerCamelCase field names, 64-bit integers as strings, enums as their value names, timestamps as RFC 3339 strings, field masks as comma-separated paths. Errors are `google.rpc.Status` JSON (`code`, `message`, `details`) with the HTTP status grpc-gateway gives the gRPC code. Server streams are sent as NDJSON or as server-sent events, as the `Accept` header asks.",
        ),
      },
      tags: this.services.map((service) => ({ name: service.name, description: commentOf(service) })),
      security: [{ [bearerScheme]: [] }],
      paths: this.#paths,
      components: {
        schemas: this.#schemas.components(),
        responses: errorComponents(),
        securitySchemes: {
          [bearerScheme]: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT access token or lpk_ API key",
            description:
              "`Authorization: Bearer <token>`, where the token is an access token from `POST /v1/auth:login` (a short-lived JWT) or an API key (`lpk_…`).",
          },
        },
      },
    };
  }

  #addOperation(binding: RestBinding): void {
    const { method, request } = binding;
    const service = method.parent;
    const verb = verbOf(binding);
    const route = openApiPath(binding.template);
    const comment = commentOf(method);
    const who = accessNote(method);

    const parameters: Json[] = [];
    for (const parameter of route.parameters) {
      const fields = request.pathFields[parameter.variable]!;
      const field = fields.at(-1)!;
      const whole = `{${parameter.name}}` === parameter.fieldTemplate;
      parameters.push({
        name: parameter.name,
        in: "path",
        required: true,
        description: join(
          commentOf(field),
          whole ? undefined : `Fills \`{${parameter.name}}\` in \`${jsonPath(fields)}\` = \`${parameter.fieldTemplate}\`.`,
        ),
        schema: whole && field.fieldKind === "scalar" ? this.#schemas.value(field) : { type: "string", pattern: parameter.multiSegment ? "^.+$" : "^[^/]+$" },
      });
    }
    const lastEventId = binding.sse?.lastEventId;
    if (lastEventId) {
      parameters.push({
        name: "Last-Event-ID",
        in: "header",
        description: `The \`id:\` of the last server-sent event received; EventSource sends it when it reconnects. Sets \`${lastEventId.jsonName}\`, winning over the query parameter.`,
        schema: { type: "string", pattern: "^[0-9]{1,19}$" },
      });
    }
    if (request.body.kind !== "all") {
      parameters.push(...this.#queryParameters(method.input, new Set(request.bound), "", "", true, new Set([method.input.typeName])));
    }

    const operation: Json = {
      tags: [service.name],
      summary: firstSentence(comment),
      description: join(comment, who.text),
      operationId: `${service.name}_${method.name}${binding.ruleIndex === 0 ? "" : `_${binding.ruleIndex + 1}`}`,
    };
    if (parameters.length > 0) operation["parameters"] = parameters;
    const body = this.#requestBody(request);
    if (body) operation["requestBody"] = body;
    operation["responses"] = this.#responses(binding, comment, who, route.parameters.length > 0);
    operation["security"] = who.isPublic ? [] : [{ [bearerScheme]: [] }];
    if (method.deprecated) operation["deprecated"] = true;

    const item = (this.#paths[route.path] ??= {});
    if (item[verb]) throw new Error(`${verb.toUpperCase()} ${route.path} is bound by two methods (${String((item[verb] as Json)["operationId"])} and ${String(operation["operationId"])})`);
    item[verb] = operation;
  }

  /**
   * Query parameters for the request fields neither in the path nor in the
   * body, nested messages as dotted lowerCamelCase names. Repeated scalars
   * repeat the parameter; maps, repeated messages and output-only fields
   * cannot be sent this way and are left out.
   */
  #queryParameters(message: DescMessage, excluded: ReadonlySet<string>, protoPrefix: string, jsonPrefix: string, parentRequired: boolean, seen: ReadonlySet<string>): Json[] {
    const parameters: Json[] = [];
    for (const field of message.fields) {
      const protoPath = `${protoPrefix}${field.name}`;
      const name = `${jsonPrefix}${field.jsonName}`;
      const behaviors = behaviorsOf(field);
      if (excluded.has(protoPath) || behaviors.has(FieldBehavior.OUTPUT_ONLY)) continue;
      const required = parentRequired && behaviors.has(FieldBehavior.REQUIRED);
      if (field.fieldKind === "message" && !hasScalarJson(field.message)) {
        if (seen.has(field.message.typeName)) continue;
        parameters.push(...this.#queryParameters(field.message, excluded, `${protoPath}.`, `${name}.`, required, new Set([...seen, field.message.typeName])));
        continue;
      }
      if (field.fieldKind === "map" || (field.fieldKind === "list" && field.listKind === "message")) continue;
      const { description, deprecated, ...schema } = this.#schemas.field(field);
      const parameter: Json = { name, in: "query" };
      if (description) parameter["description"] = description;
      if (required) parameter["required"] = true;
      if (deprecated) parameter["deprecated"] = true;
      parameter["schema"] = schema;
      parameters.push(parameter);
    }
    return parameters;
  }

  /** The JSON body: the field named by the rule's `body`, or (`*`) every request field not in the path. */
  #requestBody(request: RequestMapping): Json | undefined {
    const { input, body } = request;
    if (body.kind === "none") return undefined;
    if (body.kind === "all") {
      const omit = new Set(request.pathFields.filter((fields) => fields.length === 1).map((fields) => fields[0]!.name));
      const schema = omit.size > 0 ? this.#schemas.message(input, omit) : this.#schemas.ref(input);
      const fields = input.fields.filter((field) => !omit.has(field.name));
      return {
        required: fields.some((field) => behaviorsOf(field).has(FieldBehavior.REQUIRED)),
        content: { "application/json": { schema } },
      };
    }
    const { field } = body;
    const requestBody: Json = {};
    const description = commentOf(field);
    if (description) requestBody["description"] = description;
    requestBody["required"] = behaviorsOf(field).has(FieldBehavior.REQUIRED);
    requestBody["content"] = { "application/json": { schema: this.#schemas.value(field) } };
    return requestBody;
  }

  /**
   * A server stream, as edge/rest/streams.ts writes it: NDJSON (one message
   * per line, a failure as a last `{"error": Status}` line) unless the
   * client accepts text/event-stream, then one `data:` event per message,
   * with `id: <revision>` when the message has one, and a failure as a last
   * `event: error`.
   */
  #streamResponse(output: DescMessage, sse: SseResume, schema: Json): Json {
    return {
      description: join(
        `A stream of \`${output.typeName}\` messages in proto3 JSON, written as they happen. A call that fails before its first message gets an ordinary error response.`,
        "`application/x-ndjson` (the default): one message per line; a failure after the first message ends the stream with a line `{\"error\": <google.rpc.Status>}`.",
        `\`text/event-stream\` (send \`Accept: text/event-stream\`, as EventSource does): one \`data:\` event per message${sse.eventId ? `, whose \`id:\` is the message's \`${sse.eventId.jsonName}\`, so a reconnecting EventSource resumes with \`Last-Event-ID\`` : ""}; a failure ends the stream with an \`event: error\` whose data is the google.rpc.Status.`,
      ),
      content: {
        "application/x-ndjson": {
          schema: {
            anyOf: [schema, { type: "object", properties: { error: refTo("google.rpc.Status") }, required: ["error"] }],
          },
        },
        "text/event-stream": { schema: { type: "string" } },
      },
    };
  }

  /** The success response (201 for Create methods), then the errors the method can answer with. */
  #responses(binding: RestBinding, comment: string, who: ReturnType<typeof accessNote>, hasPathParameters: boolean): Json {
    const { method, responseBody } = binding;
    const output = method.output;
    const schema = responseBody ? this.#schemas.value(responseBody) : this.#schemas.ref(output);
    const success = binding.sse ? this.#streamResponse(output, binding.sse, schema) : {
      description: firstSentence(commentOf(output)) || "OK",
      content: { "application/json": { schema } },
    };

    const statuses = new Set<number>([400, 429, ...statusesMentioned(comment)]);
    if (!who.isPublic) statuses.add(401);
    if (who.permission) statuses.add(403);
    if (hasPathParameters) statuses.add(404);
    if (method.input.fields.some((field) => field.name === "etag")) statuses.add(409);

    const responses: Json = { [String(binding.successStatus)]: success };
    for (const status of [...statuses].filter((s) => s < 500).sort((a, b) => a - b)) responses[String(status)] = errorResponseRef(String(status));
    responses["default"] = errorResponseRef("default");
    return responses;
  }
}

/** The Launchpad services (package `launchpad.*`) of a descriptor set, sorted by name. */
export function launchpadServices(set: FileDescriptorSet) {
  const registry = createFileRegistry(set);
  const services = [...registry.files]
    .filter((file) => file.proto.package.startsWith("launchpad."))
    .flatMap((file) => file.services)
    .sort((a, b) => (a.typeName < b.typeName ? -1 : 1));
  return { registry, services };
}

/** The OpenAPI 3.1 document of every Launchpad method with an HTTP rule. */
export function buildOpenApiDocument(set: FileDescriptorSet): Json {
  const { registry, services } = launchpadServices(set);
  return new DocumentBuilder(services, registry).build();
}

/** The document as gen/openapi.json holds it: two-space JSON and a final newline. */
export function renderOpenApiDocument(document: Json): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
