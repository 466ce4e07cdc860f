/**
 * A small versioned key-value store holding the noop driver's simulated cloud (servers, images,
 * injected faults), so that many executor processes share one consistent cloud.
 * Adapters: in-memory (unit tests) and DynamoDB (local runs and integration tests).
 */

/** A stored value with its version (1 for a new key). */
export interface Versioned<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly version: number;
}

/** The simulated-cloud store port. Values are plain JSON data. */
export interface CloudStateStore {
  get(key: string): Promise<Versioned | undefined>;
  /**
   * Writes `value` if the stored version is `expected` (`'absent'`: the key must not exist).
   * @returns whether the write happened.
   */
  put(key: string, value: unknown, expected: number | 'absent'): Promise<boolean>;
  /**
   * Deletes a key if present (and at `expected`, when given).
   * @returns the entry this call deleted, or `undefined` when it deleted nothing.
   */
  delete(key: string, expected?: number): Promise<Versioned | undefined>;
  /** Every entry whose key starts with `prefix`. */
  list(prefix: string): Promise<Versioned[]>;
}
