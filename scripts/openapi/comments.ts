import type { DescEnum, DescEnumValue, DescField, DescFile, DescMessage, DescMethod, DescOneof, DescService } from "@bufbuild/protobuf";

/** An element that can carry a comment in the .proto source. */
export type Commented = DescMessage | DescField | DescOneof | DescEnum | DescEnumValue | DescService | DescMethod;

// Field numbers of FileDescriptorProto, DescriptorProto, EnumDescriptorProto
// and ServiceDescriptorProto that make up SourceCodeInfo location paths.
const file = { messageType: 4, enumType: 5, service: 6 };
const message = { field: 2, nestedType: 3, enumType: 4, oneofDecl: 8 };
const enumValue = 2;
const serviceMethod = 2;

function sourcePath(desc: Commented): { file: DescFile; path: number[] } {
  switch (desc.kind) {
    case "message": {
      if (!desc.parent) return { file: desc.file, path: [file.messageType, indexOf(desc.file.proto.messageType, desc.proto)] };
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, message.nestedType, indexOf(desc.parent.proto.nestedType, desc.proto)] };
    }
    case "enum": {
      if (!desc.parent) return { file: desc.file, path: [file.enumType, indexOf(desc.file.proto.enumType, desc.proto)] };
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, message.enumType, indexOf(desc.parent.proto.enumType, desc.proto)] };
    }
    case "field": {
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, message.field, indexOf(desc.parent.proto.field, desc.proto)] };
    }
    case "oneof": {
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, message.oneofDecl, indexOf(desc.parent.proto.oneofDecl, desc.proto)] };
    }
    case "enum_value": {
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, enumValue, indexOf(desc.parent.proto.value, desc.proto)] };
    }
    case "service":
      return { file: desc.file, path: [file.service, indexOf(desc.file.proto.service, desc.proto)] };
    case "rpc": {
      const parent = sourcePath(desc.parent);
      return { file: parent.file, path: [...parent.path, serviceMethod, indexOf(desc.parent.proto.method, desc.proto)] };
    }
  }
}

function indexOf(list: readonly unknown[], item: unknown): number {
  const index = list.indexOf(item);
  if (index < 0) throw new Error("descriptor not found in its parent");
  return index;
}

/**
 * The leading comment of an element, from the descriptor set's source info,
 * with the one space after `//` removed from every line; "" when there is
 * none (or the set was built with --exclude-source-info).
 */
export function commentOf(desc: Commented): string {
  const { file: owner, path } = sourcePath(desc);
  const location = owner.proto.sourceCodeInfo?.location.find(
    (candidate) => candidate.path.length === path.length && candidate.path.every((part, i) => part === path[i]),
  );
  const text = location?.leadingComments ?? "";
  return text
    .split("\n")
    .map((line) => line.replace(/^ /, "").trimEnd())
    .join("\n")
    .trim();
}

/** The first sentence of a comment, for an operation summary. */
export function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const end = flat.search(/\.(\s|$)/);
  return end < 0 ? flat : flat.slice(0, end + 1);
}
