/**
 * The local run's configuration: its defaults, the HOUSEKEEPER_* variables over them, the
 * --config file over everything, and defaults that yield to what the user set.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/config/schema.ts';
import { LOCAL_CONFIG, LOCAL_DEFAULTS_SOURCE, localConfig } from '../../lib/local/local-config.ts';

function local(env: Record<string, string>, file: Record<string, unknown> = {}) {
  return localConfig(env, {
    defaults: { ...LOCAL_CONFIG },
    defaultsSource: LOCAL_DEFAULTS_SOURCE,
    overrides: file,
    overridesSource: '--config f.json',
  });
}

function refusal(env: Record<string, string>, file: Record<string, unknown> = {}): ConfigError {
  try {
    local(env, file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the local run’s defaults yield to what the user set', () => {
  it.each([
    // [what the user set, the local default that yields, the value it gets instead]
    [{ check_max_delay: 120 }, 'task_timeout', 900],
    [{ housekeeping_interval: 120, planner_lease_ttl: 30 }, 'orphan_sweep_interval', 600],
  ])(
    'config errors do not blame local-run defaults the user never set: %j',
    (file, field, value) => {
      const { config } = local({}, file);
      expect((config as unknown as Record<string, unknown>)[field]).toBe(value);
      // The rest of the local defaults stay.
      expect(config.pools[0]!.spare_amphora_pool_size).toBe(4);
      expect(config.noop.boot_seconds).toBe(2);
    },
  );

  it('names the user’s own value when it is what breaks a rule', () => {
    const error = refusal({}, { task_timeout: 100, check_max_delay: 120 });
    expect(error.problems).toEqual([
      expect.objectContaining({ field: 'task_timeout', value: 100, source: '--config f.json' }),
    ]);
  });

  it('returns the raw configuration it validated, to save for later commands', () => {
    const { raw } = local({}, { check_max_delay: 120 });
    expect(raw).toMatchObject({ check_max_delay: 120, spare_amphora_pool_size: 4 });
    expect(raw).not.toHaveProperty('task_timeout');
  });
});

describe('HOUSEKEEPER_* variables are not ignored by the local target', () => {
  it('applies them over the local defaults, and the --config file over them', () => {
    const { config } = local(
      { HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: '7', HOUSEKEEPER_BOOT_TIMEOUT: '90' },
      { boot_timeout: 120 },
    );
    expect(config.pools[0]!.spare_amphora_pool_size).toBe(7);
    expect(config.boot_timeout).toBe(120);
  });

  it('refuses unknown names and bad values by name', () => {
    const error = refusal({ HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: 'abc', HOUSEKEEPER_BOGUS: '1' });
    expect(error.message).toContain('HOUSEKEEPER_BOGUS = "1": is not a known option variable');
    expect(error.message).toContain(
      'spare_amphora_pool_size (from HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE) = "abc"',
    );
  });
});
