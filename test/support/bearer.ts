import { Metadata } from "nice-grpc";

/** Call options carrying "authorization: Bearer <credential>" (an access token or an API key). */
export function bearer(credential: string): { metadata: Metadata } {
  return { metadata: Metadata({ authorization: `Bearer ${credential}` }) };
}
