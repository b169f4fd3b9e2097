import { createFileRegistry, fromBinary, toBinary, type DescFile, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";

/** What one ServerReflectionRequest asks: the same oneof in grpc.reflection.v1 and v1alpha. */
export type ReflectionQuestion =
  | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: undefined; value?: undefined };

/** What one ServerReflectionResponse answers: the same oneof in v1 and v1alpha. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Answers the questions of one reflection stream, in order. */
export type ReflectionAnswerer = (question: ReflectionQuestion) => ReflectionAnswer;

/**
 * Answers reflection questions from an encoded FileDescriptorSet, as gRPC's
 * server-reflection protocol defines them (and grpc-go answers them): a file
 * comes with every file it imports, transitively, that the stream has not
 * been sent yet, so a client builds its descriptors from one answer; what the
 * set does not hold is a NOT_FOUND error_response. Call the result once per
 * stream.
 */
export function createReflectionAnswers(descriptorSet: Uint8Array, serviceNames: readonly string[]): () => ReflectionAnswerer {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSet);
  const registry = createFileRegistry(set);
  const encodedFiles = new Map(set.file.map((file) => [file.name, toBinary(FileDescriptorProtoSchema, file)]));
  const services = { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } } as const;

  /** The file a question asks for, or the whole answer when it asks for none. */
  function resolve(question: ReflectionQuestion): DescFile | ReflectionAnswer {
    switch (question.case) {
      case "listServices":
        return services;
      case "fileByFilename":
        return registry.getFile(question.value) ?? notFound(`file ${question.value}`);
      case "fileContainingSymbol":
        return fileOfSymbol(registry, question.value) ?? notFound(`symbol ${question.value}`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = question.value;
        const extendee = registry.getMessage(containingType);
        const extension = extendee && registry.getExtensionFor(extendee, extensionNumber);
        return extension?.file ?? notFound(`extension ${extensionNumber} of ${containingType}`);
      }
      case "allExtensionNumbersOfType": {
        if (!registry.getMessage(question.value)) return notFound(`message ${question.value}`);
        const numbers = [...registry].flatMap((desc) => (desc.kind === "extension" && desc.extendee.typeName === question.value ? [desc.number] : []));
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: question.value, extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "the request asks nothing" } };
    }
  }

  return () => {
    const sent = new Set<DescFile>();
    return (question) => {
      const found = resolve(question);
      if ("case" in found) return found;
      const files = [found, ...imports(found).filter((file) => !sent.has(file))];
      files.forEach((file) => sent.add(file));
      return { case: "fileDescriptorResponse", value: { fileDescriptorProto: files.map((file) => encodedFiles.get(file.proto.name)!) } };
    };
  };
}

function notFound(what: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } };
}

/** Every file a file imports, transitively, each once. */
function imports(file: DescFile): DescFile[] {
  const found = new Set<DescFile>();
  const visit = (f: DescFile) => {
    if (found.has(f)) return;
    found.add(f);
    f.dependencies.forEach(visit);
  };
  file.dependencies.forEach(visit);
  return [...found];
}

/** The file declaring a type, service, method, field or oneof, by its full name. */
function fileOfSymbol(registry: FileRegistry, symbol: string): DescFile | undefined {
  const declared = registry.get(symbol);
  if (declared) return declared.file;
  const dot = symbol.lastIndexOf(".");
  if (dot < 0) return undefined;
  const parent = registry.get(symbol.slice(0, dot));
  const member = symbol.slice(dot + 1);
  switch (parent?.kind) {
    case "service":
      return parent.methods.some((method) => method.name === member) ? parent.file : undefined;
    case "message":
      return [...parent.fields, ...parent.oneofs].some((part) => part.name === member) ? parent.file : undefined;
    default:
      return undefined;
  }
}
