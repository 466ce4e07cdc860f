import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { describePoolStoreContract } from './pool-store-contract.ts';

describePoolStoreContract('in memory', async () => ({
  fresh: async () => new MemoryPoolStore(),
  propertyRuns: 100,
  dropBehindCounters: async (store, id) => (store as MemoryPoolStore).dropBehindCounters(id),
  cleanup: async () => {},
}));
