// npm run generate: lints the contracts, then writes gen/ with local plugins
// only: protoc-gen-es TypeScript, the descriptor set that server reflection
// serves, and the OpenAPI document of the REST paths (gen/openapi.json).
import { execFileSync } from "node:child_process";
import { copyProtoDeps } from "./proto-deps.js";

const buf = (...args) => execFileSync("node_modules/.bin/buf", args, { stdio: "inherit" });

copyProtoDeps();
buf("lint");
buf("generate");
buf("build", "--as-file-descriptor-set", "--exclude-source-info", "-o", "gen/launchpad.binpb");
execFileSync(process.execPath, ["--import", "tsx", "scripts/openapi.ts"], { stdio: "inherit" });
