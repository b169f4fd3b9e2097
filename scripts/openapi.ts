// npm run generate, last step: gen/openapi.json, the OpenAPI 3.1 document of
// every method's google.api.http rule, with the protos' comments. Run with
// `node --import tsx scripts/openapi.ts`; the generator is scripts/openapi/.
import { writeFileSync } from "node:fs";
import { generateOpenApiJson } from "./openapi/generate.js";

writeFileSync(new URL("../gen/openapi.json", import.meta.url), generateOpenApiJson());
