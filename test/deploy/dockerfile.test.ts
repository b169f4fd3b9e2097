import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { isBuiltin } from "node:module";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import type { Copy, Flag, Healthcheck } from "dockerfile-ast";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deploymentsSettings } from "../../services/deployments/config.js";
import { usersSettings } from "../../services/users/config.js";
import { edgeSettings } from "../../edge/config.js";
import { argvOf, readComposeFile } from "../support/compose-file.js";
import { entrypointOf, envOf, instructionsOf, readDockerfile, type DockerStage } from "../support/dockerfile.js";
import { repoRoot } from "../support/program.js";

// The Dockerfile, read with a real parser (dockerfile-ast); there is no
// Docker engine here, so what `docker build` would do is checked against the
// repository and against a real `npm run build` into a temporary directory.

const { stages } = readDockerfile();
const build = stages[0]!;
const runtime = stages.at(-1)!;
const packageJson = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  engines: { node: string };
};
/** The one Node major the project runs on, from engines (">=24 <25"). */
const nodeMajor = /^>=(\d+) <(\d+)$/.exec(packageJson.engines.node)?.[1];
const tsconfigBuild = JSON.parse(readFileSync(join(repoRoot, "tsconfig.build.json"), "utf8")) as { include: string[] };

const argsOf = (stage: DockerStage, keyword: string) => instructionsOf(stage, keyword).map((i) => i.getArguments().map((a) => a.getValue()));
const workdirOf = (stage: DockerStage) => argsOf(stage, "WORKDIR").at(-1)?.[0] ?? "/";

/** The COPY instructions of a stage: sources, destination (absolute) and --from. */
function copiesOf(stage: DockerStage) {
  const workdir = workdirOf(stage);
  return instructionsOf(stage, "COPY").map((instruction) => {
    const args = instruction.getArguments().map((a) => a.getValue());
    const from = (instruction as Copy).getFromFlag()?.getValue() ?? undefined;
    return { from, sources: args.slice(0, -1), destination: posix.resolve(workdir, args.at(-1)!) };
  });
}

/** The HEALTHCHECK of a stage: its flags and the exec-form command after CMD. */
function healthcheckOf(stage: DockerStage) {
  const instruction = instructionsOf(stage, "HEALTHCHECK").at(-1) as Healthcheck | undefined;
  if (!instruction) return undefined;
  const flags = Object.fromEntries(instruction.getFlags().map((flag: Flag) => [flag.getName(), flag.getValue()]));
  const args = instruction.getArguments().map((a) => a.getValue());
  const command = args[0] === "CMD" ? (JSON.parse(args.slice(1).join(" ")) as string[]) : undefined;
  return { flags, command };
}

/** Whether a .dockerignore pattern (Go filepath.Match, `**` for any depth) excludes a context path. */
function dockerignored(path: string): boolean {
  const patterns = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = posix.normalize(raw.replace(/^!/, "").replace(/^\//, ""));
    const regex = new RegExp(`^${pattern.split("**").map((part) => part.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")).join(".*")}(/.*)?$`);
    if (regex.test(path)) ignored = !negated;
  }
  return ignored;
}

/** The commands of `npm run build`, each as an argv. */
const buildSteps = () => packageJson.scripts.build!.split("&&").map((step) => step.trim().split(/\s+/));

/** The repository path a compiled file under dist/ comes from (tsconfig: rootDir ".", outDir "dist"). */
const sourceOf = (distPath: string) => distPath.replace(/^dist\//, "").replace(/\.js$/, ".ts");

describe("the Dockerfile's stages", () => {
  it("builds in a node:<engines major>-bookworm stage and runs in a separate node:<engines major>-bookworm-slim stage", () => {
    expect(nodeMajor).toBe("24");
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.from).toBe(`node:${nodeMajor}-bookworm`);
    expect(build.name).toBeTruthy();
    expect(runtime.from).toBe(`node:${nodeMajor}-bookworm-slim`);
    expect(runtime.name).toBe("runtime");
  });

  it("installs an npm that honours allowScripts (11.16 or later) before npm ci", () => {
    const runs = argsOf(build, "RUN").map((args) => args.join(" "));
    const npmInstall = runs.findIndex((run) => /npm install -g\b.*\bnpm@/.test(run));
    const [minor] = /\bnpm@11\.(\d+)\.\d+\b/.exec(runs[npmInstall] ?? "")?.slice(1) ?? [];
    expect(Number(minor)).toBeGreaterThanOrEqual(16);
    expect(npmInstall).toBeLessThan(runs.findIndex((run) => /npm ci\b/.test(run)));
  });

  it("runs npm ci, npm run build and npm prune --omit=dev, in that order", () => {
    const runs = argsOf(build, "RUN").map((args) => args.join(" "));
    const at = (pattern: RegExp) => runs.findIndex((run) => pattern.test(run));
    expect(at(/npm ci\b/)).toBeGreaterThanOrEqual(0);
    expect(at(/npm ci\b/)).toBeLessThanOrEqual(at(/npm run build\b/));
    expect(runs[at(/npm run build\b/)]).toMatch(/npm run build[\s\S]*npm prune --omit=dev/);
  });

  it("copies package.json and package-lock.json before npm ci, so dependency layers survive source edits", () => {
    const copyLine = instructionsOf(build, "COPY")[0]!.getRange().start.line;
    const ciLine = instructionsOf(build, "RUN").find((run) => /npm ci\b/.test(run.toString()))!.getRange().start.line;
    expect(copiesOf(build)[0]!.sources).toEqual(["package.json", "package-lock.json"]);
    expect(copyLine).toBeLessThan(ciLine);
  });
});

describe("what the build stage copies from the context", () => {
  const sources = copiesOf(build).flatMap((copy) => copy.sources);

  it("exists in the repository and is not excluded by .dockerignore", () => {
    for (const source of sources) {
      expect(existsSync(join(repoRoot, source)), source).toBe(true);
      expect(dockerignored(source), `${source} is in .dockerignore`).toBe(false);
    }
  });

  it("includes every folder tsconfig.build.json compiles, the tsconfigs, and every file the build script copies into dist", () => {
    for (const folder of tsconfigBuild.include) expect(sources, folder).toContain(folder);
    expect(sources).toEqual(expect.arrayContaining(["tsconfig.json", "tsconfig.build.json"]));
    const copied = buildSteps().filter(([command]) => command === "cp").flatMap(([, ...args]) => args.slice(0, -1));
    expect(copied).toContain("gen/launchpad.binpb");
    for (const file of copied) expect(sources, file).toContain(file.split("/")[0]);
  });

  it("keeps host-built and secret files out of the context", () => {
    for (const path of ["node_modules", "dist", ".git", ".env", "data", "node_modules/pg/package.json"]) {
      expect(dockerignored(path), path).toBe(true);
    }
  });
});

describe("the runtime stage", () => {
  it("runs as a user that is not root", () => {
    const user = argsOf(runtime, "USER").at(-1)?.[0];
    expect(user).toBeDefined();
    expect(user!.split(":")[0]).not.toMatch(/^(root|0)$/);
  });

  it("runs dist/bin/launchpad.js with node as its ENTRYPOINT (exec form, so the program gets SIGTERM)", () => {
    expect(entrypointOf(runtime)).toEqual(["node", "dist/bin/launchpad.js"]);
    expect(existsSync(join(repoRoot, sourceOf("dist/bin/launchpad.js")))).toBe(true);
    expect(workdirOf(runtime)).toBe("/app");
  });

  it("has a HEALTHCHECK that runs the health-check script with node, within bounded time", () => {
    const healthcheck = healthcheckOf(runtime);
    expect(healthcheck?.command?.slice(0, 2)).toEqual(["node", "dist/bin/healthcheck.js"]);
    expect(existsSync(join(repoRoot, sourceOf(healthcheck!.command![1]!)))).toBe(true);
    expect(healthcheck!.flags).toMatchObject({ interval: expect.any(String), timeout: expect.any(String) });
  });

  it("listens on every part inside the container and exposes the default ports", () => {
    expect(envOf(runtime).LAUNCHPAD_LISTEN_HOST).toBe("0.0.0.0");
    const exposed = argsOf(runtime, "EXPOSE").flat().map((port) => Number(port.split("/")[0]));
    const defaults = [usersSettings.port, usersSettings.metricsPort, deploymentsSettings.port, deploymentsSettings.metricsPort, edgeSettings.port];
    expect(exposed.sort()).toEqual(defaults.map((s) => s.defaultValue).sort());
  });

  it("takes only package.json, node_modules and dist from the build stage, none of the sources", () => {
    const copies = copiesOf(runtime);
    expect(copies.every((copy) => copy.from === build.name)).toBe(true);
    expect(copies.flatMap((copy) => copy.sources).sort()).toEqual(["/app/dist", "/app/node_modules", "/app/package.json"]);
    expect(workdirOf(build)).toBe("/app");
  });
});

describe("the files the image runs exist after npm run build", () => {
  let out: string;
  let emitted: string[];

  // `npm run build` as the build stage runs it, with dist/ redirected to a
  // temporary directory (the repository's dist/ is left alone).
  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), "launchpad-dist-"));
    for (const [command, ...args] of buildSteps()) {
      if (command === "tsc") {
        // Type errors fail `npm run build` (and `npm test`), but still emit: the layout is what is checked here.
        await promisify(execFile)(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), ...args, "--outDir", out], { cwd: repoRoot }).catch(
          () => undefined,
        );
      } else if (command === "cp") {
        const to = args.at(-1)!.replace(/^dist\/?/, "");
        for (const from of args.slice(0, -1)) cpSync(join(repoRoot, from), join(out, to, args.length > 2 || to.endsWith("/") ? posix.basename(from) : ""));
      } else if (command === "vite") {
        await promisify(execFile)(process.execPath, [join(repoRoot, "node_modules/vite/bin/vite.js"), ...args, "--outDir", join(out, "console")], { cwd: repoRoot });
      } else {
        throw new Error(`unexpected build step: ${command} ${args.join(" ")}`);
      }
    }
    emitted = (readdirSync(out, { recursive: true }) as string[]).map((path) => `dist/${path.split("\\").join("/")}`);
  }, 120_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("holds the entry point, the health check and the descriptor set that reflection reads", () => {
    const healthcheck = healthcheckOf(runtime)!.command![1]!;
    for (const file of [entrypointOf(runtime)![1]!, healthcheck, "dist/gen/launchpad.binpb", "dist/console/index.html"]) expect(emitted, file).toContain(file);
    const compiled = emitted.filter((path) => path.endsWith(".js") && !path.startsWith("dist/console/"));
    for (const file of compiled) expect(existsSync(join(repoRoot, sourceOf(file))), file).toBe(true);
  });

  it("holds every script docker-compose.yml runs in the image", () => {
    const compose = readComposeFile();
    const scripts = Object.values(compose.services)
      .flatMap((service) => [...argvOf(service.entrypoint), ...argvOf(service.healthcheck?.test)])
      .flatMap((arg) => arg.match(/dist\/\S+\.js/g) ?? []);
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(emitted, script).toContain(script);
  });

  it("imports, at run time, only packages that npm prune --omit=dev keeps (dependencies)", () => {
    const imported = new Set<string>();
    // The console's bundle runs in browsers, not in Node.
    for (const file of emitted.filter((path) => path.endsWith(".js") && !path.startsWith("dist/console/"))) {
      const code = readFileSync(join(out, file.slice("dist/".length)), "utf8");
      // from "x", import "x", import("x")
      for (const [, specifier] of code.matchAll(/\b(?:from|import)\s*\(?\s*["']([^"'\s]+)["']/g)) {
        if (specifier!.startsWith(".") || isBuiltin(specifier!)) continue;
        imported.add(specifier!.startsWith("@") ? specifier!.split("/").slice(0, 2).join("/") : specifier!.split("/")[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    const missing = [...imported].filter((name) => !(name in packageJson.dependencies));
    expect(missing, "imported by dist/ but not in dependencies").toEqual([]);
  });
});
