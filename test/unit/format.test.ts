/** What the CLI prints: the JSON shape of a record, and the list's header row. */
import { describe, expect, it } from 'vitest';
import { viewOf } from '../../lib/app/pool-status.ts';
import { formatList, recordJson } from '../../lib/local/format.ts';
import { NOW, rec } from '../support/pool-fixtures.ts';

describe('consistent JSON shapes', () => {
  it('a record prints with ISO times and a fixed key order, whatever order it was stored in', () => {
    const record = rec('PRESERVING', {
      id: 'a1',
      failure: { code: 'BOOT_FAILED', message: 'x', at: NOW },
      missing: { sweeps: 1, since: NOW },
    });
    const shuffled = Object.fromEntries(Object.entries(record).reverse()) as typeof record;

    const json = recordJson(shuffled);

    expect(Object.keys(json)).toEqual(Object.keys(recordJson(record)));
    expect(Object.keys(json).slice(0, 5)).toEqual(['id', 'pool', 'zone', 'state', 'stateSince']);
    expect(Object.keys(json).at(-1)).toBe('history');
    expect(json.stateSince).toBe(new Date(record.stateSince).toISOString());
    expect(json.failure).toEqual({
      at: new Date(NOW).toISOString(),
      code: 'BOOT_FAILED',
      message: 'x',
    });
    expect(json.missing).toEqual({ since: new Date(NOW).toISOString(), sweeps: 1 });
    expect(JSON.stringify(json)).not.toMatch(/":\s*1\d{12}\b/); // no epoch-ms time left
  });

  it('list has a header row', () => {
    const lines = formatList([viewOf(rec('READY', { id: 'a2' }))]).split('\n');
    expect(lines[0]).toMatch(/^ID\s+POOL\s+STATE\s+ZONE\s+SINCE$/);
    expect(lines[1]).toMatch(/^a2\s+default\s+READY\s+no zone\s+since /);
  });
});
