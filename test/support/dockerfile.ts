import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DockerfileParser, type Instruction, type JSONInstruction } from "dockerfile-ast";
import { repoRoot } from "./program.js";

/** One stage of a multi-stage Dockerfile: its FROM and the instructions up to the next FROM. */
export interface DockerStage {
  /** The `AS name`, if any. */
  name: string | undefined;
  /** The base image, e.g. "node:20-bookworm-slim", or an earlier stage's name. */
  from: string;
  instructions: Instruction[];
}

/** The repository's Dockerfile, parsed with dockerfile-ast and split into stages. */
export function readDockerfile(path = join(repoRoot, "Dockerfile")): { stages: DockerStage[] } {
  const dockerfile = DockerfileParser.parse(readFileSync(path, "utf8"));
  const stages: DockerStage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const from = dockerfile.getFROMs().find((f) => f.getRange().start.line === instruction.getRange().start.line)!;
      stages.push({ name: from.getBuildStage() ?? undefined, from: from.getImage() ?? "", instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { stages };
}

/** The instructions of a stage with a keyword (FROM excluded). */
export function instructionsOf(stage: DockerStage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);
}

/** The argv of an exec-form (JSON) instruction such as ENTRYPOINT ["node", "x.js"]; undefined for the shell form. */
export function execFormOf(instruction: Instruction): string[] | undefined {
  const strings = (instruction as JSONInstruction).getJSONStrings?.() ?? [];
  return strings.length > 0 ? strings.map((s) => s.getJSONValue()) : undefined;
}

/** The ENV a stage sets, name → value, in order (later wins). */
export function envOf(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const instruction of instructionsOf(stage, "ENV")) {
    for (const property of (instruction as import("dockerfile-ast").Env).getProperties()) {
      env[property.getName()] = property.getUnescapedValue() ?? "";
    }
  }
  return env;
}

/** The last ENTRYPOINT of a stage as an argv. */
export function entrypointOf(stage: DockerStage): string[] | undefined {
  const entrypoint = instructionsOf(stage, "ENTRYPOINT").at(-1);
  return entrypoint && execFormOf(entrypoint);
}
