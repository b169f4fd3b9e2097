// Copies the protos the workspace imports but does not own into .proto-deps/,
// the second module of the buf workspace: Google's API annotations and rpc
// status protos from the google-proto-files npm package (there is no Buf
// Schema Registry to fetch them from), and gRPC's health and reflection protos
// from third_party/grpc-proto (no npm package ships them as .proto files), so
// that the descriptor set and gen/ describe the services every server answers.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Each source folder and the files taken from it. */
const sources = [
  {
    folder: dirname(createRequire(import.meta.url).resolve("google-proto-files/package.json")),
    files: [
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/api/field_behavior.proto",
      "google/rpc/code.proto",
      "google/rpc/status.proto",
      "google/rpc/error_details.proto",
    ],
  },
  {
    folder: join(root, "third_party/grpc-proto"),
    files: ["grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto"],
  },
];

/** Writes .proto-deps/ afresh and returns its path. */
export function copyProtoDeps() {
  const target = join(root, ".proto-deps");
  rmSync(target, { recursive: true, force: true });
  for (const { folder, files } of sources) {
    for (const file of files) {
      mkdirSync(dirname(join(target, file)), { recursive: true });
      cpSync(join(folder, file), join(target, file));
    }
  }
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyProtoDeps();
