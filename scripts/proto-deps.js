// Copies the Google protos the contracts import from the google-proto-files
// npm package into .proto-deps/, the second module of the buf workspace.
// There is no Buf Schema Registry to fetch them from.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const files = [
  "google/api/annotations.proto",
  "google/api/http.proto",
  "google/api/field_behavior.proto",
  "google/rpc/code.proto",
  "google/rpc/status.proto",
  "google/rpc/error_details.proto",
];

/** Writes .proto-deps/ afresh and returns its path. */
export function copyProtoDeps() {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const source = dirname(createRequire(import.meta.url).resolve("google-proto-files/package.json"));
  const target = join(root, ".proto-deps");
  rmSync(target, { recursive: true, force: true });
  for (const file of files) {
    mkdirSync(dirname(join(target, file)), { recursive: true });
    cpSync(join(source, file), join(target, file));
  }
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyProtoDeps();
