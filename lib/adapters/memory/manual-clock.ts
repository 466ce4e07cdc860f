/** A clock that moves only when told to: for unit tests and simulations. */
import type { Clock } from '../../ports/clock.ts';

/** Time that advances only through {@link ManualClock.advance} or {@link ManualClock.set}. */
export class ManualClock implements Clock {
  private time: number;
  private sleepers: Array<{ until: number; resolve: () => void }> = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Resolves once the clock has been advanced `ms` past now. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const sleeper = { until: this.time + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward and wakes the sleepers that are due. */
  advance(ms: number): void {
    this.set(this.time + ms);
  }

  /** Moves time to `at` (never backwards) and wakes the sleepers that are due. */
  set(at: number): void {
    this.time = Math.max(this.time, at);
    const due = this.sleepers.filter((s) => s.until <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.until > this.time);
    for (const s of due) s.resolve();
  }
}
