import { getOption, isFieldSet, type DescField, type DescMessage, type DescMethod, type Message } from "@bufbuild/protobuf";
import { FieldBehavior, field_behavior } from "../../../gen/google/api/field_behavior_pb.js";
import { DomainError, invalidArgument, type FieldViolation } from "../errors.js";
import { defaultFieldLimits, fieldLimitViolations, type FieldLimits } from "../field-limits.js";
import { UndecodableRequest } from "../grpc/service-definition.js";
import type { CallCheck } from "./call-checks.js";

/** A per-method check beyond field_behavior; returns what is wrong, if anything. */
export type RequestRule<Request = never> = (request: Request) => FieldViolation[];

/**
 * Refuses bad requests before any handler runs: undecodable bytes, any
 * string, bytes, repeated or map field over its limit (field-limits.ts),
 * missing REQUIRED fields (google.api.field_behavior), then whatever the
 * method's own rule finds, reported as INVALID_ARGUMENT with BadRequest field
 * violations. Limits come first, so no rule ever reads an oversized value.
 */
export function validationCheck(
  methods: ReadonlyMap<string, DescMethod>,
  rules: Readonly<Record<string, RequestRule<any>>>,
  limits: FieldLimits = defaultFieldLimits,
): CallCheck {
  return function validate(call) {
    const method = methods.get(call.method.path);
    if (method && !call.requestStream) {
      if (call.request instanceof UndecodableRequest) {
        throw new DomainError("invalid-argument", "MALFORMED_REQUEST", "the request could not be decoded", {
          cause: call.request.cause,
        });
      }
      const request = call.request as Message;
      let violations = fieldLimitViolations(method.input, request, limits);
      if (violations.length === 0) violations = missingRequiredFields(method.input, request);
      // Rules may rely on REQUIRED fields being set, so they run only once those are.
      if (violations.length === 0) violations = rules[call.method.path]?.(request) ?? [];
      if (violations.length > 0) throw invalidArgument(violations[0]!.reason ?? "INVALID_ARGUMENT", violations);
    }
  };
}

/**
 * REQUIRED fields that are unset, descending into set REQUIRED messages. In
 * requests with an update_mask, nested fields are required only when masked,
 * which the method's own rule checks.
 */
export function missingRequiredFields(schema: DescMessage, message: Message, prefix = ""): FieldViolation[] {
  const descend = !schema.fields.some((f) => f.name === "update_mask");
  return schema.fields.filter(isRequired).flatMap((field) => {
    const path = prefix + field.name;
    if (!isFieldSet(message, field) || isEmptyString(message, field)) {
      return [{ field: path, description: "is required", reason: "FIELD_REQUIRED" }];
    }
    if (descend && field.fieldKind === "message") {
      const child = (message as unknown as Record<string, Message>)[field.localName]!;
      return missingRequiredFields(field.message, child, `${path}.`);
    }
    return [];
  });
}

const required = new WeakMap<DescField, boolean>();

/** Whether a field is REQUIRED; the option is decoded once per field, not per call. */
function isRequired(field: DescField): boolean {
  let value = required.get(field);
  if (value === undefined) {
    value = getOption(field, field_behavior).includes(FieldBehavior.REQUIRED);
    required.set(field, value);
  }
  return value;
}

function isEmptyString(message: Message, field: DescField): boolean {
  const value = (message as unknown as Record<string, unknown>)[field.localName];
  return typeof value === "string" && value.trim() === "";
}
