import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { buildOpenApiDocument, renderOpenApiDocument } from "./document.js";

/** The repository root (this file is scripts/openapi/generate.ts). */
const root = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The buf workspace as one descriptor set WITH source info, so comments
 * become descriptions (gen/launchpad.binpb, for reflection, has none).
 */
export function buildDescriptorSet(): FileDescriptorSet {
  if (!existsSync(new URL("../../.proto-deps", import.meta.url))) {
    throw new Error(".proto-deps/ is missing: run `npm run generate` (or `node scripts/proto-deps.js`) first");
  }
  const bytes = execFileSync(`${root}node_modules/.bin/buf`, ["build", "--as-file-descriptor-set", "-o", "-#format=binpb"], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  return fromBinary(FileDescriptorSetSchema, bytes);
}

/** gen/openapi.json's content, generated from the protos. Deterministic: the same protos give the same bytes. */
export function generateOpenApiJson(): string {
  return renderOpenApiDocument(buildOpenApiDocument(buildDescriptorSet()));
}
