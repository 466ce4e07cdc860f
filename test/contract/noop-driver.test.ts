import { noopHarness } from '../support/noop-harness.ts';
import { describeDriverContract } from './driver-contract.ts';

describeDriverContract('noop', async () => noopHarness());
