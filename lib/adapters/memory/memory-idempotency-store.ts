/** Idempotency records in process memory: for tests and the local `--memory` run. */
import type {
  BeginOutcome,
  BeginRequest,
  IdempotencyRecord,
  IdempotencyStore,
  StoredResponse,
} from '../../ports/idempotency-store.ts';

/** An idempotency store in a Map, with the port's conditional semantics. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();

  async begin(request: BeginRequest): Promise<BeginOutcome> {
    const existing = this.records.get(request.key);
    const replaceable =
      existing === undefined ||
      existing.expiresAt <= request.now ||
      (existing.status === 'IN_PROGRESS' &&
        existing.startedAt <= request.now - request.staleAfterMs);
    if (!replaceable) return { started: false, existing: structuredClone(existing) };
    this.records.set(request.key, {
      key: request.key,
      requestHash: request.requestHash,
      status: 'IN_PROGRESS',
      token: request.token,
      startedAt: request.now,
      expiresAt: request.now + request.ttlMs,
    });
    return { started: true };
  }

  async complete(
    key: string,
    token: string,
    response: StoredResponse,
    now: number,
    ttlMs: number,
  ): Promise<boolean> {
    const existing = this.records.get(key);
    if (existing?.status !== 'IN_PROGRESS' || existing.token !== token) return false;
    this.records.set(key, {
      ...existing,
      status: 'COMPLETED',
      response: { ...response },
      expiresAt: now + ttlMs,
    });
    return true;
  }

  async abandon(key: string, token: string): Promise<void> {
    const existing = this.records.get(key);
    if (existing?.status === 'IN_PROGRESS' && existing.token === token) this.records.delete(key);
  }

  /** How many records are held (for tests). */
  get size(): number {
    return this.records.size;
  }
}
