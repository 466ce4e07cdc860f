/** Time and identity, injected so that tests and simulations control them. */

/** A source of the current time and of waiting. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock's time; rejects if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Makes unique ids (UUIDs in production). */
export type IdSource = () => string;
