import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  DeploymentEventSchema,
  DeploymentSchema,
  type Deployment,
  type DeploymentEvent,
} from "../../gen/launchpad/deployment/v1/deployment_pb.js";
import { DomainError } from "../kit/errors.js";
import { etagOf } from "../kit/etag.js";
import type { DeploymentRecord, EventRecord } from "./store/types.js";

const namePattern = /^deployments\/([\w-]{1,64})$/;

/** The resource name of a deployment id. */
export const deploymentName = (id: string) => `deployments/${id}`;

/** Whether a string is a deployment name; for validation rules. */
export const isDeploymentName = (name: string) => namePattern.test(name);

/** The id in "deployments/{deployment}"; validation has already checked the form. */
export function deploymentIdOf(name: string): string {
  const id = namePattern.exec(name)?.[1];
  if (id === undefined) {
    throw new DomainError("invalid-argument", "INVALID_NAME", `"${name}" is not a deployment name (deployments/{deployment})`);
  }
  return id;
}

/** NOT_FOUND for a deployment name. */
export function deploymentNotFound(name: string): DomainError {
  return new DomainError("not-found", "DEPLOYMENT_NOT_FOUND", `deployment ${name} does not exist`);
}

/** The API form of a stored deployment. */
export function toDeployment(record: DeploymentRecord): Deployment {
  return create(DeploymentSchema, {
    name: deploymentName(record.id),
    service: record.service,
    version: record.version,
    environment: record.environment,
    description: record.description,
    labels: record.labels,
    state: record.state,
    progressPercent: record.progressPercent,
    statusMessage: record.statusMessage,
    logUrl: record.logUrl,
    creator: record.creator,
    rollbackOf: record.rollbackOf ? deploymentName(record.rollbackOf) : "",
    createTime: timestampFromDate(record.createTime),
    updateTime: timestampFromDate(record.updateTime),
    startTime: record.startTime ? timestampFromDate(record.startTime) : undefined,
    endTime: record.endTime ? timestampFromDate(record.endTime) : undefined,
    revision: BigInt(record.revision),
    etag: etagOf(record.generation),
  });
}

/** The API form of a stored event. */
export function toEvent(record: EventRecord): DeploymentEvent {
  return create(DeploymentEventSchema, {
    deployment: deploymentName(record.deploymentId),
    sequence: BigInt(record.sequence),
    revision: BigInt(record.revision),
    type: record.type,
    state: record.state,
    progressPercent: record.progressPercent,
    message: record.message,
    actor: record.actor,
    createTime: timestampFromDate(record.createTime),
  });
}
