import { describeDriverContract } from '../contract/driver-contract.ts';
import { realHarness } from './support.ts';

describeDriverContract('openstack on the loopback OpenStack', async () => realHarness());
