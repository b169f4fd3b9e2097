import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { createClientFactory, type Channel, type Client } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { toNiceService, type NiceServiceDefinition } from "../../services/kit/grpc/service-definition.js";

/** A nice-grpc client of a protobuf-es service on `channel` that decodes google.rpc error details (RichClientError). */
export function typedClient<S extends GenServiceMethods>(service: GenService<S>, channel: Channel): Client<NiceServiceDefinition<S>> {
  return createClientFactory().use(errorDetailsClientMiddleware).create(toNiceService(service), channel);
}
