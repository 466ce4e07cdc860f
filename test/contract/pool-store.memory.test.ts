import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { describePoolStoreContract } from './pool-store-contract.ts';

describePoolStoreContract('in memory', async () => ({
  fresh: async () => new MemoryPoolStore(),
  propertyRuns: 100,
  cleanup: async () => {},
}));
