/** The README's configuration table must match the schema: every option, with its default. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionEnvNames } from '../../lib/config/env.ts';
import { type HousekeeperConfig, parseConfig } from '../../lib/config/schema.ts';
import { TRANSITIONS } from '../../lib/domain/amphora.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = [...readme.matchAll(/^\|\s*`([a-z_.]+)`\s*\|\s*(.+?)\s*\|.+\|$/gm)].map((m) => ({
  option: m[1]!,
  shown: m[2]!.trim(),
}));

/** Options that are every pool's default: read from the pool a default configuration makes. */
const POOL_DEFAULTS = new Set(['spare_amphora_pool_size', 'availability_zones', 'rotation_budget']);

function valueAt(config: HousekeeperConfig, option: string): unknown {
  const pool = config.pools[0]!;
  if (option === 'availability_zones') {
    return pool.zones.filter((z) => z.name !== '*').map((z) => z.name);
  }
  if (POOL_DEFAULTS.has(option)) return pool[option as keyof typeof pool];
  const [section, key] = option.split('.') as [string, string | undefined];
  if (key === undefined) return (config as unknown as Record<string, unknown>)[section];
  if (section === 'openstack' && key in pool.launch) {
    return (pool.launch as unknown as Record<string, unknown>)[key];
  }
  if (
    section === 'openstack' &&
    ['network_ids', 'security_group_ids', 'config_drive'].includes(key)
  ) {
    return (pool.launch as unknown as Record<string, unknown>)[key];
  }
  return (config as unknown as Record<string, Record<string, unknown>>)[section]?.[key];
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
      const actual = valueAt(parseConfig({}), option);
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

describe('the README’s lifecycle', () => {
  it('lists every legal move of the lifecycle, and no other (the diagram was incomplete)', () => {
    const shown = Object.fromEntries(
      [...readme.matchAll(/^\s*\|\s*([A-Z_]+)\s*\|\s*([A-Z_, —]+?)\s*\|$/gm)].map((m) => [
        m[1]!,
        m[2] === '—' ? [] : m[2]!.split(', '),
      ]),
    );
    expect(shown).toEqual(TRANSITIONS);
  });
});
