/** In-memory simulated-cloud store, for unit tests. */
import type { CloudStateStore, Versioned } from '../../ports/cloud-state.ts';

/** A versioned key-value map in process memory. */
export class MemoryCloudState implements CloudStateStore {
  private readonly entries = new Map<string, Versioned>();

  async get(key: string): Promise<Versioned | undefined> {
    const entry = this.entries.get(key);
    return entry ? structuredClone(entry) : undefined;
  }

  async put(key: string, value: unknown, expected: number | 'absent'): Promise<boolean> {
    const current = this.entries.get(key);
    if (expected === 'absent' ? current !== undefined : current?.version !== expected) return false;
    this.entries.set(key, {
      key,
      value: structuredClone(value),
      version: (current?.version ?? 0) + 1,
    });
    return true;
  }

  async delete(key: string, expected?: number): Promise<Versioned | undefined> {
    const current = this.entries.get(key);
    if (!current || (expected !== undefined && current.version !== expected)) return undefined;
    this.entries.delete(key);
    return current;
  }

  async list(prefix: string): Promise<Versioned[]> {
    return [...this.entries.values()]
      .filter((e) => e.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((e) => structuredClone(e));
  }
}
