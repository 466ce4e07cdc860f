/**
 * The one configuration schema (SPEC §2). Option names follow the seed. Every value is
 * validated; a rejected configuration raises one {@link ConfigError} whose message names,
 * for every bad field at once, the field, the value given and the rule it broke.
 */
import * as z from 'zod';
import { ANY_ZONE } from '../domain/amphora.ts';
import { HousekeeperError } from '../domain/errors.ts';

const SQS_MAX_DELAY_SECONDS = 900;
const DAY = 86_400;

function int(rule: { min: number; max: number; unit?: string }) {
  const unit = rule.unit ? ` ${rule.unit}` : '';
  return z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(rule.min, { error: `must be at least ${rule.min}${unit}` })
    .max(rule.max, { error: `must be at most ${rule.max}${unit}` });
}

function seconds(min: number, max: number) {
  return int({ min, max, unit: 'seconds' });
}

/** Nova server tags: at most 60 characters, no comma or slash. */
const novaTag = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(60, { error: 'must be at most 60 characters (a Nova tag)' })
  .regex(/^[^,/:]+$/, {
    error: 'must not contain ",", "/" or ":" (a Nova tag; ":" marks amphora-id tags)',
  });

const zoneName = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(255, { error: 'must be at most 255 characters' })
  .regex(/^[^:*]+$/, { error: 'must not contain ":" or "*"' });

const nonEmpty = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });

const openstackSchema = z
  .strictObject(
    {
      /** clouds.yaml entry to read credentials from when running locally. */
      cloud: nonEmpty.optional(),
      region_name: nonEmpty.optional(),
      interface: z
        .enum(['public', 'internal', 'admin'], { error: 'must be one of public, internal, admin' })
        .default('public'),
      ca_bundle_file: nonEmpty.optional(),
      image_id: nonEmpty.optional(),
      image_tag: nonEmpty.optional(),
      image_owner_id: nonEmpty.optional(),
      flavor_id: nonEmpty.optional(),
      network_ids: z.array(nonEmpty, { error: 'must be a list of network ids' }).default([]),
      security_group_ids: z
        .array(nonEmpty, { error: 'must be a list of security group ids' })
        .default([]),
      key_name: nonEmpty.optional(),
      config_drive: z.boolean({ error: 'must be true or false' }).default(false),
      user_data: z
        .string({ error: 'must be a string' })
        .max(65_535, { error: 'must be at most 65535 characters' })
        .optional(),
      server_group_id: nonEmpty.optional(),
      request_timeout: seconds(1, 300).default(30),
    },
    { error: 'must be an object' },
  )
  .default({
    interface: 'public',
    network_ids: [],
    security_group_ids: [],
    config_drive: false,
    request_timeout: 30,
  });

const noopSchema = z
  .strictObject(
    {
      /** Simulated time from boot request to ACTIVE (or ERROR). */
      boot_seconds: seconds(0, DAY).default(0),
      /** Probability that a simulated boot ends in ERROR. */
      boot_failure_rate: z
        .number({ error: 'must be a number' })
        .min(0, { error: 'must be between 0 and 1' })
        .max(1, { error: 'must be between 0 and 1' })
        .default(0),
    },
    { error: 'must be an object' },
  )
  .default({ boot_seconds: 0, boot_failure_rate: 0 });

/** The schema of the whole configuration, with every default. */
export const configSchema = z.strictObject({
  housekeeping_interval: seconds(60, DAY)
    .refine((v) => v % 60 === 0, {
      error: 'must be a multiple of 60 seconds: an EventBridge rate counts whole minutes',
    })
    .default(60),
  spare_amphora_pool_size: int({ min: 0, max: 10_000 }).default(0),
  maximum_deploying_amphora_count: int({ min: 1, max: 10_000 }).default(2),
  maximum_preserved_amphora_count: int({ min: 0, max: 10_000 }).default(0),
  preservation_scheme: z
    .enum(['keep', 'cycle'], { error: 'must be one of keep, cycle' })
    .default('keep'),
  preservation_method: z
    .enum(['unplug', 'snapshot'], { error: 'must be one of unplug, snapshot' })
    .default('unplug'),
  driver: z
    .enum(['openstack', 'noop'], { error: 'must be one of openstack, noop' })
    .default('noop'),
  availability_zones: z
    .array(zoneName, { error: 'must be a list of zone names' })
    .refine((zones) => new Set(zones).size === zones.length, {
      error: 'must not name a zone twice',
    })
    .default([]),
  boot_timeout: seconds(30, DAY).default(600),
  amphora_expiry_age: seconds(0, 365 * DAY).default(7 * DAY),
  create_backoff_initial: seconds(1, DAY).default(60),
  create_backoff_max: seconds(1, 7 * DAY).default(3_600),
  /** Defaults to max(600, housekeeping_interval), filled in by parseConfig. */
  orphan_sweep_interval: seconds(60, 7 * DAY).optional(),
  orphan_grace_period: seconds(60, 7 * DAY).default(1_800),
  task_timeout: seconds(60, DAY).default(900),
  task_max_attempts: int({ min: 1, max: 100 }).default(5),
  delete_max_attempts: int({ min: 1, max: 100 }).default(5),
  check_initial_delay: seconds(0, SQS_MAX_DELAY_SECONDS).default(15),
  check_max_delay: seconds(1, SQS_MAX_DELAY_SECONDS).default(120),
  planner_lease_ttl: seconds(30, 3_600).default(300),
  executor_timeout: seconds(10, 900).default(60),
  executor_batch_size: int({ min: 1, max: 100 }).default(10),
  executor_batch_window: seconds(0, 300).default(0),
  executor_max_concurrency: int({ min: 2, max: 1_000 }).default(5),
  ownership_tag: novaTag.default('amphora-housekeeper'),
  openstack: openstackSchema,
  noop: noopSchema,
});

/** A validated configuration. */
export type HousekeeperConfig = Omit<z.output<typeof configSchema>, 'orphan_sweep_interval'> & {
  readonly orphan_sweep_interval: number;
};

/** The sweep interval when none is configured: ten minutes, or the planner interval if longer. */
export const DEFAULT_SWEEP_INTERVAL = 600;

/** One rejected value: the field, the value given and the rule it broke. */
export interface ConfigProblem {
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;
  /** Where the value came from, e.g. an environment variable name, when known. */
  readonly source?: string;
}

/** A configuration was refused; the message lists every problem, one per line. */
export class ConfigError extends HousekeeperError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((p) => `  - ${formatProblem(p)}`)
        .join('\n')}`,
    );
    this.problems = problems;
  }
}

/** One problem as a single line: `field (source) = value: rule`. */
export function formatProblem(p: ConfigProblem): string {
  const source = p.source ? ` (from ${p.source})` : '';
  return `${p.field}${source} = ${showValue(p.value)}: ${p.rule}`;
}

function showValue(value: unknown): string {
  if (value === undefined) return '(missing)';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function at(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(configuration)';
  return path
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`))
    .join('');
}

function crossFieldProblems(c: HousekeeperConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const rule = (field: string, value: unknown, text: string) =>
    problems.push({ field, value, rule: text });
  if (c.create_backoff_max < c.create_backoff_initial) {
    rule(
      'create_backoff_max',
      c.create_backoff_max,
      `must be at least create_backoff_initial (${c.create_backoff_initial})`,
    );
  }
  if (c.check_max_delay < c.check_initial_delay) {
    rule(
      'check_max_delay',
      c.check_max_delay,
      `must be at least check_initial_delay (${c.check_initial_delay})`,
    );
  }
  if (c.task_timeout <= c.check_max_delay) {
    rule(
      'task_timeout',
      c.task_timeout,
      `must exceed check_max_delay (${c.check_max_delay}), or every slow boot looks stuck`,
    );
  }
  if (c.orphan_sweep_interval < c.housekeeping_interval) {
    rule(
      'orphan_sweep_interval',
      c.orphan_sweep_interval,
      `must be at least housekeeping_interval (${c.housekeeping_interval}): sweeps are issued by the planner`,
    );
  }
  if (c.executor_batch_size > 10 && c.executor_batch_window === 0) {
    rule(
      'executor_batch_window',
      c.executor_batch_window,
      `must be at least 1 when executor_batch_size (${c.executor_batch_size}) is over 10: an SQS event source needs a batching window for that`,
    );
  }
  if (c.driver === 'openstack') {
    const os = c.openstack;
    if (!os.image_id === !os.image_tag) {
      rule(
        'openstack.image_id',
        os.image_id,
        'exactly one of openstack.image_id and openstack.image_tag must be set when driver is openstack',
      );
    }
    if (!os.flavor_id) {
      rule('openstack.flavor_id', os.flavor_id, 'is required when driver is openstack');
    }
    if (os.network_ids.length === 0) {
      rule(
        'openstack.network_ids',
        os.network_ids,
        'must name at least one network when driver is openstack',
      );
    }
  }
  return problems;
}

/**
 * Validates a raw configuration object and fills in defaults.
 * @param sources maps a field name to where its value came from, for the messages.
 * @throws ConfigError listing every problem found.
 */
export function parseConfig(
  input: unknown,
  sources: Readonly<Record<string, string>> = {},
): HousekeeperConfig {
  const result = configSchema.safeParse(input ?? {}, { reportInput: true });
  if (!result.success) {
    const problems: ConfigProblem[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const path = [...issue.path, key];
          const field = fieldName(path);
          problems.push({
            field,
            value: at(input, path),
            rule: 'is not a known option',
            ...sourceOf(sources, field),
          });
        }
        continue;
      }
      const field = fieldName(issue.path);
      // One problem per field: the first rule it breaks (e.g. "at least 60" over "a multiple of 60").
      if (problems.some((p) => p.field === field)) continue;
      problems.push({
        field,
        value: at(input, issue.path),
        rule: issue.message,
        ...sourceOf(sources, field),
      });
    }
    throw new ConfigError(problems);
  }
  const config: HousekeeperConfig = {
    ...result.data,
    orphan_sweep_interval:
      result.data.orphan_sweep_interval ??
      Math.max(DEFAULT_SWEEP_INTERVAL, result.data.housekeeping_interval),
  };
  const problems = crossFieldProblems(config).map((p) => ({ ...p, ...sourceOf(sources, p.field) }));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Where a field's value came from; list elements (`zones[1]`) come from their list's source. */
function sourceOf(sources: Readonly<Record<string, string>>, field: string): { source?: string } {
  const source = sources[field] ?? sources[field.replace(/\[\d+\]$/, '')];
  return source ? { source } : {};
}

/** The zones of the pool: the configured ones, or the single unzoned pool. */
export function poolZones(config: Pick<HousekeeperConfig, 'availability_zones'>): string[] {
  return config.availability_zones.length > 0 ? [...config.availability_zones] : [ANY_ZONE];
}
