import { DeploymentState } from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import {
  DeploymentService,
  type CancelDeploymentRequest,
  type CreateDeploymentRequest,
  type ListDeploymentEventsRequest,
  type ListDeploymentsRequest,
  type ReportDeploymentProgressRequest,
  type RollbackDeploymentRequest,
  type WatchDeploymentRequest,
  type WatchDeploymentsRequest,
} from "../../gen/launchpad/deployment/v1/deployment_service_pb.js";
import type { FieldViolation } from "../kit/errors.js";
import { methodPath } from "../kit/grpc/service-definition.js";
import type { RequestRule } from "../kit/middleware/validation.js";
import { check, environmentPattern, nameRule, orderByRule, pageSizeRule } from "../kit/rules.js";
import { isDeploymentName } from "./resources.js";

/** Sort orders ListDeployments accepts. */
export const deploymentOrderFields = ["create_time", "update_time"] as const;

const servicePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const versionPattern = /^[\w.+-]{1,128}$/;
const labelKeyPattern = /^[a-z0-9][a-z0-9._/-]{0,62}$/;
const requestIdPattern = /^[\w-]{1,64}$/;

const length = (text: string) => [...text].length;

function nameOf(field: string, value: string) {
  return nameRule(field, value, isDeploymentName, "deployments/{deployment}");
}

function requestIdRule(requestId: string) {
  return requestId === ""
    ? []
    : check(requestIdPattern.test(requestId), "request_id", "INVALID_REQUEST_ID", "must be 1 to 64 letters, digits, dashes or underscores (a UUID fits)");
}

function versionRule(field: string, version: string) {
  return check(versionPattern.test(version), field, "INVALID_VERSION", "must be 1 to 128 letters, digits, dots, dashes, underscores or plus signs");
}

function resumeRule(revision: bigint) {
  return check(revision >= 0n, "resume_revision", "INVALID_REVISION", "must not be negative");
}

function createRule(r: CreateDeploymentRequest): FieldViolation[] {
  const d = r.deployment!;
  const labels = Object.entries(d.labels);
  return [
    ...check(servicePattern.test(d.service), "deployment.service", "INVALID_SERVICE", "must be lower-case letters, digits and dashes, at most 63"),
    ...versionRule("deployment.version", d.version),
    ...check(environmentPattern.test(d.environment), "deployment.environment", "INVALID_ENVIRONMENT", "must be lower-case letters, digits and dashes, at most 63"),
    ...check(length(d.description) <= 1000, "deployment.description", "INVALID_DESCRIPTION", "must be at most 1000 characters"),
    ...check(labels.length <= 64, "deployment.labels", "TOO_MANY_LABELS", "at most 64 labels"),
    ...labels.flatMap(([key, value]) => [
      ...check(labelKeyPattern.test(key), `deployment.labels[${key}]`, "INVALID_LABEL", "keys are lower-case letters, digits, dots, dashes, underscores and slashes, at most 63"),
      ...check(length(value) <= 256, `deployment.labels[${key}]`, "INVALID_LABEL", "values are at most 256 characters"),
    ]),
    ...requestIdRule(r.requestId),
  ];
}

function reportRule(r: ReportDeploymentProgressRequest): FieldViolation[] {
  let validUrl = true;
  if (r.logUrl !== "") {
    try {
      validUrl = ["http:", "https:"].includes(new URL(r.logUrl).protocol) && r.logUrl.length <= 2048;
    } catch {
      validUrl = false;
    }
  }
  return [
    ...nameOf("name", r.name),
    ...check(DeploymentState[r.state] !== undefined, "state", "INVALID_STATE", "must be a DeploymentState; DEPLOYMENT_STATE_UNSPECIFIED keeps the current one"),
    ...check(r.progressPercent >= 0 && r.progressPercent <= 100, "progress_percent", "PROGRESS_OUT_OF_RANGE", "must be from 0 to 100"),
    ...check(length(r.statusMessage) <= 1000, "status_message", "INVALID_STATUS_MESSAGE", "must be at most 1000 characters"),
    ...check(validUrl, "log_url", "INVALID_LOG_URL", "must be an http or https URL of at most 2048 characters"),
  ];
}

/** DeploymentService's request rules beyond field_behavior, by gRPC path. */
export const deploymentRequestRules: Record<string, RequestRule<any>> = {
  [methodPath(DeploymentService.method.createDeployment)]: createRule,
  [methodPath(DeploymentService.method.getDeployment)]: (r: { name: string }) => nameOf("name", r.name),
  [methodPath(DeploymentService.method.listDeployments)]: (r: ListDeploymentsRequest) => [
    ...pageSizeRule(r.pageSize),
    ...orderByRule(r.orderBy, deploymentOrderFields),
  ],
  [methodPath(DeploymentService.method.reportDeploymentProgress)]: reportRule,
  [methodPath(DeploymentService.method.cancelDeployment)]: (r: CancelDeploymentRequest) => [
    ...nameOf("name", r.name),
    ...check(length(r.reason) <= 1000, "reason", "INVALID_REASON", "must be at most 1000 characters"),
  ],
  [methodPath(DeploymentService.method.rollbackDeployment)]: (r: RollbackDeploymentRequest) => [
    ...nameOf("name", r.name),
    ...(r.targetVersion === "" ? [] : versionRule("target_version", r.targetVersion)),
    ...requestIdRule(r.requestId),
    ...check(length(r.description) <= 1000, "description", "INVALID_DESCRIPTION", "must be at most 1000 characters"),
  ],
  [methodPath(DeploymentService.method.listDeploymentEvents)]: (r: ListDeploymentEventsRequest) => [
    ...nameOf("parent", r.parent),
    ...pageSizeRule(r.pageSize),
  ],
  [methodPath(DeploymentService.method.watchDeployment)]: (r: WatchDeploymentRequest) => [
    ...nameOf("name", r.name),
    ...resumeRule(r.resumeRevision),
  ],
  [methodPath(DeploymentService.method.watchDeployments)]: (r: WatchDeploymentsRequest) => resumeRule(r.resumeRevision),
};
