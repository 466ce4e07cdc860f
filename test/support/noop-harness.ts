/** A noop driver on a manual clock, with a harness for the driver contract suite. */
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import {
  type NoopBootBehaviour,
  NoopCloudControl,
  NoopDriver,
} from '../../lib/drivers/noop/noop-driver.ts';
import type { CloudStateStore } from '../../lib/ports/cloud-state.ts';
import type { DriverHarness } from '../contract/driver-contract.ts';
import { EMPTY_SPEC } from './boot.ts';
import { countServersInStore } from './servers-sent.ts';

/** Builds a noop driver whose simulated time moves only when `eventually` polls. */
export function noopHarness(
  boot: NoopBootBehaviour = { bootSeconds: 5, bootFailureRate: 0, snapshotSeconds: 3 },
  state: CloudStateStore = new MemoryCloudState(),
): DriverHarness & { clock: ManualClock; control: NoopCloudControl; driver: NoopDriver } {
  const clock = new ManualClock();
  const counted = countServersInStore(state);
  const driver = new NoopDriver(
    { state: counted.state, clock, newId: randomUUID },
    'amphora-housekeeper',
    boot,
  );
  const control = new NoopCloudControl(state, randomUUID);
  return {
    driver,
    clock,
    control,
    async eventually<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
      for (let i = 0; i < 600; i++) {
        const value = await probe();
        if (value !== undefined) return value;
        clock.advance(1_000);
      }
      throw new Error(`timed out waiting for ${what}`);
    },
    portCount: (serverId) => control.portCount(serverId),
    spec: EMPTY_SPEC,
    publishImage: async (tag) => {
      // Images published a moment apart, as in a real catalogue.
      clock.advance(1_000);
      return control.publishImage({ tags: [tag] }, clock.now());
    },
    serversSent: counted.sent,
    cleanup: async () => {},
  };
}
