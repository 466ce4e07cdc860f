import { MemoryIdempotencyStore } from '../../lib/adapters/memory/memory-idempotency-store.ts';
import { describeIdempotencyStoreContract } from './idempotency-store-contract.ts';

describeIdempotencyStoreContract('in memory', async () => ({
  fresh: async () => new MemoryIdempotencyStore(),
}));
