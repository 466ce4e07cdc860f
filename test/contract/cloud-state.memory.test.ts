import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import { describeCloudStateContract } from './cloud-state-contract.ts';

describeCloudStateContract('in memory', async () => ({
  fresh: async () => new MemoryCloudState(),
  cleanup: async () => {},
}));
