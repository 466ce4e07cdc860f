/** The README's configuration table must match the schema: every option, with its default. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionEnvNames } from '../../lib/config/env.ts';
import { parseConfig } from '../../lib/config/schema.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = [...readme.matchAll(/^\|\s*`([a-z_.]+)`\s*\|\s*(.+?)\s*\|.+\|$/gm)].map((m) => ({
  option: m[1]!,
  shown: m[2]!.trim(),
}));

function valueAt(config: Record<string, unknown>, option: string): unknown {
  return option
    .split('.')
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)?.[key], config);
}

describe('README configuration table', () => {
  it('lists every option exactly once', () => {
    expect(rows.map((r) => r.option).sort()).toEqual(
      optionEnvNames()
        .map((o) => o.field)
        .sort(),
    );
  });

  it.each(rows.filter((r) => r.option !== 'orphan_sweep_interval'))(
    'shows the real default of $option',
    ({ option, shown }) => {
      const actual = valueAt(parseConfig({}) as unknown as Record<string, unknown>, option);
      if (shown === '—') {
        expect(actual).toBeUndefined();
      } else {
        const literal = shown.replace(/^`|`$/g, '');
        expect(actual).toEqual(
          /^[[\d-]|^(true|false)$/.test(literal) ? JSON.parse(literal) : literal,
        );
      }
    },
  );

  it('describes the derived default of orphan_sweep_interval', () => {
    expect(rows.find((r) => r.option === 'orphan_sweep_interval')!.shown).toBe(
      '`max(600, housekeeping_interval)`',
    );
    expect(parseConfig({}).orphan_sweep_interval).toBe(600);
    expect(parseConfig({ housekeeping_interval: 1200 }).orphan_sweep_interval).toBe(1200);
  });
});
