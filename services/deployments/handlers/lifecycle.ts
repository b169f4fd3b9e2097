import { createHash, randomUUID } from "node:crypto";
import type { DeploymentService } from "../../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import { DomainError } from "../../kit/errors.js";
import { generationOfEtag } from "../../kit/etag.js";
import { parseFilter } from "../../kit/filter.js";
import { isTimeKeyset, pageSize, pageTokens, parseOrderBy } from "../../kit/page-token.js";
import type { Handlers } from "../../kit/server.js";
import { assertEnvironmentAllowed } from "../access.js";
import { decideCancel, decideReport } from "../changes.js";
import { deploymentFilterFields } from "../filters.js";
import { deploymentIdOf, deploymentNotFound, toDeployment, toEvent } from "../resources.js";
import type { DeploymentOrder, DeploymentRecord } from "../store/types.js";
import type { DeploymentServiceDeps } from "./deps.js";

/** A stable fingerprint of what an idempotent request asked for. */
function fingerprint(payload: unknown): string {
  return createHash("sha256").update(JSON.stringify(payload)).digest("hex");
}

const sorted = (labels: Record<string, string>) => Object.fromEntries(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

/** DeploymentService handlers for the lifecycle: create, read, report, cancel, roll back, history. */
export function createLifecycleHandlers({ store, clock, committed, pageTokenKey }: DeploymentServiceDeps) {
  const deploymentPageTokens = pageTokens(pageTokenKey, "ListDeployments", isTimeKeyset);
  const eventPageTokens = pageTokens(pageTokenKey, "ListDeploymentEvents", (p): p is number => Number.isSafeInteger(p) && (p as number) >= 0);

  async function load(name: string): Promise<DeploymentRecord> {
    const deployment = await store.get(deploymentIdOf(name));
    if (!deployment) throw deploymentNotFound(name);
    return deployment;
  }

  return {
    async createDeployment(request, context) {
      const principal = context.principal!;
      const input = request.deployment!;
      assertEnvironmentAllowed(principal, input.environment);
      const deployment = {
        service: input.service,
        version: input.version,
        environment: input.environment,
        description: input.description.trim(),
        labels: sorted(input.labels),
        creator: principal.user,
        rollbackOf: null,
      };
      const { deployment: created, events } = await store.create(
        { ...deployment, id: randomUUID(), createTime: clock() },
        request.requestId ? { requestId: request.requestId, fingerprint: fingerprint({ create: deployment }) } : undefined,
      );
      committed(events);
      return { deployment: toDeployment(created) };
    },

    async getDeployment(request) {
      return { deployment: toDeployment(await load(request.name)) };
    },

    async listDeployments(request) {
      const query = { filter: request.filter, orderBy: request.orderBy.trim() };
      const order: DeploymentOrder = parseOrderBy<DeploymentOrder["field"]>(query.orderBy, "create_time");
      const limit = pageSize(request.pageSize);
      const { deployments, totalSize } = await store.list({
        filter: parseFilter(request.filter, deploymentFilterFields),
        order,
        after: deploymentPageTokens.decode(request.pageToken, query),
        limit: limit + 1,
      });
      const page = deployments.slice(0, limit);
      const last = page.at(-1);
      const sortValue = (d: DeploymentRecord) => (order.field === "update_time" ? d.updateTime : d.createTime).toISOString();
      return {
        deployments: page.map(toDeployment),
        nextPageToken: deployments.length > limit && last ? deploymentPageTokens.encode({ value: sortValue(last), id: last.id }, query) : "",
        totalSize,
      };
    },

    async reportDeploymentProgress(request, context) {
      const actor = context.principal!.user;
      const { deployment, events } = await store.update(
        deploymentIdOf(request.name),
        (current) => decideReport(current, request, actor, clock()),
        undefined,
        clock(),
      );
      committed(events);
      return { deployment: toDeployment(deployment) };
    },

    async cancelDeployment(request, context) {
      const principal = context.principal!;
      // Environments are immutable, so checking outside the transaction is safe,
      // and it comes before the etag check: that would tell strangers the etag.
      assertEnvironmentAllowed(principal, (await load(request.name)).environment);
      const { deployment, events } = await store.update(
        deploymentIdOf(request.name),
        (current) => decideCancel(current, request.reason, principal.user, clock()),
        generationOfEtag(request.etag),
        clock(),
      );
      committed(events);
      return { deployment: toDeployment(deployment) };
    },

    async rollbackDeployment(request, context) {
      const principal = context.principal!;
      const current = await load(request.name);
      assertEnvironmentAllowed(principal, current.environment);
      const target = request.targetVersion
        ? await store.lastSuccess(current.service, current.environment, clock(), request.targetVersion)
        : await store.lastSuccess(current.service, current.environment, current.createTime);
      if (!target) {
        throw new DomainError(
          "failed-precondition",
          "NO_ROLLBACK_TARGET",
          request.targetVersion
            ? `${current.service} never succeeded with version ${request.targetVersion} in ${current.environment}`
            : `${current.service} has no successful deployment in ${current.environment} before ${request.name}`,
        );
      }
      const deployment = {
        service: current.service,
        version: target.version,
        environment: current.environment,
        description: request.description.trim() || `Roll back ${request.name} to ${target.version}`,
        labels: current.labels,
        creator: principal.user,
        rollbackOf: current.id,
      };
      const { deployment: created, events } = await store.create(
        { ...deployment, id: randomUUID(), createTime: clock() },
        request.requestId
          ? { requestId: request.requestId, fingerprint: fingerprint({ rollback: request.name, version: target.version }) }
          : undefined,
      );
      committed(events);
      return { deployment: toDeployment(created) };
    },

    async listDeploymentEvents(request) {
      const deployment = await load(request.parent);
      const query = { parent: request.parent };
      const after = eventPageTokens.decode(request.pageToken, query) ?? 0;
      const limit = pageSize(request.pageSize, 100);
      const events = await store.listEvents(deployment.id, after, limit + 1);
      const page = events.slice(0, limit);
      return {
        events: page.map(toEvent),
        nextPageToken: events.length > limit ? eventPageTokens.encode(page.at(-1)!.sequence, query) : "",
      };
    },
  } satisfies Partial<Handlers<typeof DeploymentService>>;
}
