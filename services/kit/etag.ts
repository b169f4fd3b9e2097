/** The etag of a stored generation (AIP-154); opaque to clients. */
export const etagOf = (generation: number) => `v${generation}`;

/**
 * The generation an etag names: undefined for an empty etag (no check), -1
 * for one this API never issued, which therefore never matches.
 */
export function generationOfEtag(etag: string): number | undefined {
  if (etag === "") return undefined;
  const match = /^v(\d+)$/.exec(etag);
  return match ? Number(match[1]) : -1;
}
