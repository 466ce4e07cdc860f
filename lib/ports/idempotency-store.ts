/**
 * Idempotency records of the API's POST requests: the first request with a key runs, its
 * response is kept, and a retry with the same key gets that response instead of running again
 * (a client retrying a claim after a timeout gets the same amphora, not a second one).
 *
 * A record is IN_PROGRESS while its request runs and COMPLETED once its response is stored.
 * Writes are conditional: of two requests that begin with the same key at once, one runs and
 * the other sees the first one's record.
 */

/** A stored response, replayed to a retry. */
export interface StoredResponse {
  readonly status: number;
  /** The JSON body, as sent. */
  readonly body: string;
}

/** One idempotency record. Times are epoch milliseconds. */
export interface IdempotencyRecord {
  readonly key: string;
  /** A hash of the request (method, path, body): a key reused for another request is refused. */
  readonly requestHash: string;
  readonly status: 'IN_PROGRESS' | 'COMPLETED';
  /** Who runs (or ran) the request: only that runner may complete or abandon it. */
  readonly token: string;
  /** When the run began: an IN_PROGRESS older than the stale bound may be taken over. */
  readonly startedAt: number;
  /** After this the record is as good as absent (and the table's TTL deletes it). */
  readonly expiresAt: number;
  /** Present once COMPLETED. */
  readonly response?: StoredResponse;
}

/** The outcome of {@link IdempotencyStore.begin}. */
export type BeginOutcome =
  | { readonly started: true }
  | { readonly started: false; readonly existing: IdempotencyRecord };

/** What {@link IdempotencyStore.begin} writes. */
export interface BeginRequest {
  readonly key: string;
  readonly requestHash: string;
  /** Identifies this run; {@link IdempotencyStore.complete} and `abandon` must name it. */
  readonly token: string;
  readonly now: number;
  /** How long an IN_PROGRESS record holds the key before another run may take it over. */
  readonly staleAfterMs: number;
  /** How long the record lives (the TTL of the key). */
  readonly ttlMs: number;
}

/** The idempotency records, as adapters (in-memory, DynamoDB) implement them. */
export interface IdempotencyStore {
  /**
   * Writes an IN_PROGRESS record for the key unless a live one exists: none, an expired one, or
   * an IN_PROGRESS one that began before `now - staleAfterMs` (its runner is presumed dead) is
   * replaced; otherwise the stored record is returned and nothing is written.
   */
  begin(request: BeginRequest): Promise<BeginOutcome>;
  /**
   * Marks the key's record COMPLETED with its response, if it is still this run's (`token`).
   * @returns whether it was written (false: the record was taken over or removed meanwhile).
   */
  complete(
    key: string,
    token: string,
    response: StoredResponse,
    now: number,
    ttlMs: number,
  ): Promise<boolean>;
  /** Removes the key's IN_PROGRESS record if it is still this run's, so a retry runs again. */
  abandon(key: string, token: string): Promise<void>;
}
