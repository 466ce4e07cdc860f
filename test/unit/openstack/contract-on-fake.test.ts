import { describeDriverContract } from '../../contract/driver-contract.ts';
import { FakeOpenStack } from '../../support/openstack-fake/fake-openstack.ts';
import { fakeHarness } from '../../support/openstack-fake/harness.ts';

describeDriverContract('openstack on the HTTP fake', async () =>
  fakeHarness(await new FakeOpenStack().start()),
);
