/** What the CLI prints: the JSON shape of a record, and the list's header row. */
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { viewOf } from '../../lib/app/pool-status.ts';
import { formatList, recordJson } from '../../lib/local/format.ts';
import { jsonShape, render, styleFor, table } from '../../lib/local/output.ts';
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
    expect(lines[1]).toMatch(/^a2\s+default\s+READY\s+no zone\s+2026-/);
  });
});

describe('output conventions', () => {
  const ESC = String.fromCharCode(27);

  it.each([
    ['a terminal', {}, true, true],
    ['a pipe', {}, false, false],
    ['NO_COLOR on a terminal', { NO_COLOR: '1' }, true, false],
    ['NO_COLOR over FORCE_COLOR', { NO_COLOR: '1', FORCE_COLOR: '1' }, true, false],
    ['FORCE_COLOR in a pipe', { FORCE_COLOR: '1' }, false, true],
    ['FORCE_COLOR=0 on a terminal', { FORCE_COLOR: '0' }, true, true],
    ['TERM=dumb', { TERM: 'dumb' }, true, false],
    ['CI in a pipe', { CI: 'true' }, false, false],
  ])('colours %s: %j', (_, env, tty, coloured) => {
    expect(styleFor(env, tty).red('x').includes(ESC)).toBe(coloured);
  });

  it('aligns a table by the visible width, with colour codes in its cells', () => {
    const lines = table(
      ['A', 'B'],
      [
        [styleFor({ FORCE_COLOR: '1' }, false).red('xx'), 'y'],
        ['zzzz', 'w'],
      ],
    )
      .split('\n')
      .map((l) => l.replaceAll(new RegExp(`${ESC}\\[\\d+m`, 'g'), ''));
    expect(lines).toEqual(['A     B', 'xx    y', 'zzzz  w']);
  });

  it('renders one shape as JSON, YAML or the table', () => {
    const value = { b: 1, a: [{ at: 'x' }] };
    expect(JSON.parse(render('json', value, () => 'T'))).toEqual(value);
    expect(YAML.parse(render('yaml', value, () => 'T'))).toEqual(value);
    expect(render('table', value, () => 'T')).toBe('T');
  });

  it('writes times as ISO 8601 and sorts keys in a JSON shape', () => {
    expect(
      JSON.stringify(
        jsonShape({ z: 1, until: NOW, nested: [{ queuedAt: NOW, b: 2, a: undefined }] }),
      ),
    ).toBe(
      `{"nested":[{"b":2,"queuedAt":"${new Date(NOW).toISOString()}"}],"until":"${new Date(NOW).toISOString()}","z":1}`,
    );
  });
});
