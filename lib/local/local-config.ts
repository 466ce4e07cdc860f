/**
 * The configuration of the local run: the noop driver, a small pool and short delays, so that a
 * newcomer watches the pool fill up, boots fail, and failed amphorae get preserved or removed
 * within seconds. Any option can be overridden with a JSON file (`--config`) or the
 * `HOUSEKEEPER_*` variables.
 */
import { type ConfigLayers, layeredConfig } from '../config/env.ts';
import { ConfigError, type HousekeeperConfig } from '../config/schema.ts';

export const LOCAL_CONFIG: Readonly<Record<string, unknown>> = {
  driver: 'noop',
  spare_amphora_pool_size: 4,
  maximum_deploying_amphora_count: 2,
  maximum_preserved_amphora_count: 2,
  preservation_scheme: 'cycle',
  preservation_method: 'unplug',
  boot_timeout: 60,
  task_timeout: 60,
  check_initial_delay: 1,
  check_max_delay: 4,
  create_backoff_initial: 2,
  create_backoff_max: 20,
  orphan_sweep_interval: 60,
  orphan_grace_period: 60,
  image_refresh_interval: 60,
  planner_lease_ttl: 30,
  noop: { boot_seconds: 2, boot_failure_rate: 0.2 },
};

/** Where the local defaults come from, in messages. */
export const LOCAL_DEFAULTS_SOURCE = 'the local run’s defaults';

/** Seconds between planner cycles in the local run (the schedule's stand-in). */
export const LOCAL_PLANNER_EVERY_SECONDS = 3;

/** `raw` without the dotted fields named (`task_timeout`, `noop.boot_seconds`). */
function withoutFields(raw: Record<string, unknown>, fields: readonly string[]) {
  const copy = structuredClone(raw);
  for (const field of fields) {
    const [head, tail] = field.split('.') as [string, string | undefined];
    const section = copy[head];
    if (tail === undefined) delete copy[head];
    else if (section && typeof section === 'object')
      delete (section as Record<string, unknown>)[tail];
  }
  return copy;
}

/**
 * The configuration of a local command: `defaults` (the local run's, or the configuration the
 * last local run saved), the environment's `HOUSEKEEPER_*` over them, and the `--config` file
 * over everything. A default the user never set yields to what they did set: when a rule
 * between two fields fails on a default (the local `task_timeout` of 60 against a
 * `check_max_delay` of 120 in the file), that default is dropped for the schema's own.
 * @returns the configuration, and the raw one it was validated from (to save for later commands).
 * @throws ConfigError naming only values the user gave.
 */
export function localConfig(
  env: Readonly<Record<string, string | undefined>>,
  layers: ConfigLayers & {
    readonly defaults: Record<string, unknown>;
    readonly defaultsSource: string;
  },
): { config: HousekeeperConfig; raw: Record<string, unknown> } {
  let defaults = layers.defaults;
  for (;;) {
    try {
      return layeredConfig(env, { ...layers, defaults });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const blamed = error.problems
        .filter((p) => p.source === layers.defaultsSource)
        .map((p) => p.field);
      // Every pass drops at least one default, so this ends.
      const next = withoutFields(defaults, blamed);
      if (blamed.length === 0 || JSON.stringify(next) === JSON.stringify(defaults)) throw error;
      defaults = next;
    }
  }
}
