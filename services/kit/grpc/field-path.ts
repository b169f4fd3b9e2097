import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";

/**
 * Reads a dotted path of proto field names ("user.name") from a message;
 * undefined when a message on the way is unset or a name is unknown.
 */
export function readFieldPath(schema: DescMessage, message: Message, path: string): unknown {
  let currentSchema: DescMessage | undefined = schema;
  let current: unknown = message;
  for (const name of path.split(".")) {
    const field: DescField | undefined = currentSchema?.fields.find((f) => f.name === name);
    if (!field || current === undefined || current === null) return undefined;
    current = (current as Record<string, unknown>)[field.localName];
    currentSchema = field.fieldKind === "message" ? field.message : undefined;
  }
  return current;
}
