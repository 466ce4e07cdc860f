/**
 * The configuration of the local run: the noop driver, a small pool and short delays, so that a
 * newcomer watches the pool fill up, boots fail, and failed amphorae get preserved or removed
 * within seconds. Any option can be overridden with a JSON file (`--config`).
 */
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

/** Seconds between planner cycles in the local run (the schedule's stand-in). */
export const LOCAL_PLANNER_EVERY_SECONDS = 3;
