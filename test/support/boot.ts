/** Boot requests for driver and executor tests. */
import type { BootRequest, BootSpec } from '../../lib/ports/amphora-driver.ts';

/** A launch spec with nothing in it: what the noop driver needs. */
export const EMPTY_SPEC: BootSpec = { networkIds: [], securityGroupIds: [], configDrive: false };

/** A boot of `amphoraId` in pool `default`, in compute zone `zone` unless it is `*`. */
export function bootRequest(
  amphoraId: string,
  zone = '*',
  spec: BootSpec = EMPTY_SPEC,
  pool = 'default',
): BootRequest {
  return { amphoraId, pool, ...(zone !== '*' ? { computeZone: zone } : {}), spec };
}
