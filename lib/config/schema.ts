/**
 * The one configuration schema (SPEC §2). Option names follow the seed. Every value is
 * validated; a rejected configuration raises one {@link ConfigError} whose message names,
 * for every bad field at once (cross-field rules included), the field, the value given and the
 * rule it broke. A field of a pool is named with its pool: `pools[small].openstack.flavor_id`.
 *
 * A configuration without `pools` is one pool named `default`, made from the top-level
 * `spare_amphora_pool_size`, `availability_zones` and `openstack` launch fields. With `pools`,
 * those top-level fields are every pool's defaults.
 */
import * as z from 'zod';
import { ANY_ZONE } from '../domain/amphora.ts';
import { HousekeeperError } from '../domain/errors.ts';
import {
  DEFAULT_POOL,
  type LaunchSpec,
  type PoolSpec,
  type Settings,
  type ZoneSpec,
} from '../domain/settings.ts';

const SQS_MAX_DELAY_SECONDS = 900;
const DAY = 86_400;

function int(rule: { min: number; max: number; unit?: string }) {
  // "1 second", "2 seconds": the unit is given in the plural.
  const unit = (n: number) =>
    rule.unit ? ` ${n === 1 ? rule.unit.replace(/s$/, '') : rule.unit}` : '';
  return z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(rule.min, { error: `must be at least ${rule.min}${unit(rule.min)}` })
    .max(rule.max, { error: `must be at most ${rule.max}${unit(rule.max)}` });
}

function seconds(min: number, max: number) {
  return int({ min, max, unit: 'seconds' });
}

/** A pool's name: it becomes a Nova tag. */
const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;

/** The launch fields of the `openstack` section: allowed at the top level and in a pool. */
const LAUNCH_FIELDS = [
  'image_id',
  'image_tag',
  'image_owner_id',
  'flavor_id',
  'network_ids',
  'security_group_ids',
  'key_name',
  'config_drive',
  'user_data',
  'server_group_id',
] as const;

/** The connection fields of the `openstack` section: top level only, one cloud per deployment. */
const CONNECTION_FIELDS = [
  'cloud',
  'region_name',
  'interface',
  'ca_bundle_file',
  'request_timeout',
] as const;

/**
 * Builds the schema. Only {@link configSchema} calls it, once: building zod schemas is most of
 * what validation costs, and a function whose configuration was validated at synth (its
 * checksum matches, see `lib/config/env.ts`) never needs it.
 */
function buildConfigSchema() {
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

  const idList = (what: string) => z.array(nonEmpty, { error: `must be a list of ${what} ids` });

  /**
   * A zone: Octavia's name alone, or with the compute zone sent to Nova and its own networks. A
   * plain name is read as `{ name }`; its problems are reported on the name as written.
   */
  const zoneSchema = z.preprocess(
    (v) => (typeof v === 'string' || typeof v === 'number' ? { name: v } : v),
    z.strictObject(
      {
        name: zoneName,
        compute_zone: zoneName.optional(),
        network_ids: idList('network').optional(),
      },
      { error: 'must be a zone name or { name, compute_zone, network_ids }' },
    ),
  );

  const zonesSchema = z.array(zoneSchema, {
    error: 'must be a list of zone names or { name, compute_zone, network_ids } objects',
  });

  /** The launch fields of the `openstack` section: allowed at the top level and in a pool. */
  const launchFields = {
    image_id: nonEmpty.optional(),
    image_tag: nonEmpty.optional(),
    image_owner_id: nonEmpty.optional(),
    flavor_id: nonEmpty.optional(),
    network_ids: idList('network').optional(),
    security_group_ids: idList('security group').optional(),
    key_name: nonEmpty.optional(),
    config_drive: z.boolean({ error: 'must be true or false' }).optional(),
    user_data: z
      .string({ error: 'must be a string' })
      .max(65_535, { error: 'must be at most 65535 characters' })
      .optional(),
    server_group_id: nonEmpty.optional(),
  } satisfies Record<(typeof LAUNCH_FIELDS)[number], z.ZodType>;

  /** The connection fields of the `openstack` section: top level only, one cloud per deployment. */
  const connectionFields = {
    /** clouds.yaml entry to read credentials from when running locally. */
    cloud: nonEmpty.optional(),
    region_name: nonEmpty.optional(),
    interface: z
      .enum(['public', 'internal', 'admin'], { error: 'must be one of public, internal, admin' })
      .default('public'),
    ca_bundle_file: nonEmpty.optional(),
    request_timeout: seconds(1, 300).default(30),
  } satisfies Record<(typeof CONNECTION_FIELDS)[number], z.ZodType>;

  const openstackSchema = z
    .strictObject({ ...connectionFields, ...launchFields }, { error: 'must be an object' })
    .default({ interface: 'public', request_timeout: 30 });

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

  const poolName = z.string({ error: 'must be a string' }).regex(POOL_NAME, {
    error:
      'must be 1 to 40 letters, digits, ".", "_" or "-", starting with a letter or digit (it becomes a Nova tag)',
  });

  /** One pool as written; every field but the name defaults to the top-level value. */
  const poolSchema = z.strictObject(
    {
      name: poolName,
      spare_amphora_pool_size: int({ min: 0, max: 10_000 }).optional(),
      availability_zones: zonesSchema.optional(),
      maximum_deploying_amphora_count: int({ min: 1, max: 10_000 }).optional(),
      maximum_preserved_amphora_count: int({ min: 0, max: 10_000 }).optional(),
      rotation_budget: int({ min: 1, max: 1_000 }).optional(),
      openstack: z.strictObject(launchFields, { error: 'must be an object' }).optional(),
    },
    { error: 'must be an object' },
  );

  return z.strictObject({
    housekeeping_interval: seconds(60, DAY)
      .refine((v) => v % 60 === 0, {
        error: 'must be a multiple of 60 seconds: an EventBridge rate counts whole minutes',
      })
      .default(60),
    deployment_name: z
      .string({ error: 'must be a string' })
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,59}$/, {
        error: 'must be 1 to 60 letters, digits or "-", starting with a letter',
      })
      .default('amphora-housekeeper'),
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
    availability_zones: zonesSchema.default([]),
    pools: z.array(poolSchema, { error: 'must be a list of pools' }).optional(),
    rotation_budget: int({ min: 1, max: 1_000 }).default(1),
    image_refresh_interval: seconds(60, DAY).default(300),
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
    delete_backoff_initial: seconds(1, SQS_MAX_DELAY_SECONDS).default(30),
    delete_backoff_max: seconds(1, SQS_MAX_DELAY_SECONDS).default(SQS_MAX_DELAY_SECONDS),
    preservation_timeout: seconds(60, 7 * DAY).default(3_600),
    check_initial_delay: seconds(0, SQS_MAX_DELAY_SECONDS).default(15),
    check_max_delay: seconds(1, SQS_MAX_DELAY_SECONDS).default(120),
    planner_lease_ttl: seconds(30, 3_600).default(300),
    executor_timeout: seconds(10, 900).default(60),
    executor_batch_size: int({ min: 1, max: 100 }).default(10),
    executor_batch_window: seconds(0, 300).default(0),
    executor_max_concurrency: int({ min: 2, max: 1_000 }).default(5),
    /** Defaults to deployment_name, filled in by parseConfig. */
    ownership_tag: novaTag.optional(),
    openstack: openstackSchema,
    noop: noopSchema,
  });
}

type ConfigSchema = ReturnType<typeof buildConfigSchema>;
let schema: ConfigSchema | undefined;

/** The schema of the whole configuration as written, with every default; built on first use. */
export function configSchema(): ConfigSchema {
  schema ??= buildConfigSchema();
  return schema;
}

type RawConfig = z.output<ConfigSchema>;

/** The cloud connection of the openstack driver (the launch spec lives in each pool). */
export interface OpenStackConnection {
  readonly cloud?: string;
  readonly region_name?: string;
  readonly interface: 'public' | 'internal' | 'admin';
  readonly ca_bundle_file?: string;
  readonly request_timeout: number;
}

/** A validated configuration: the domain's settings plus what only the edges read. */
export interface HousekeeperConfig extends Settings {
  readonly housekeeping_interval: number;
  readonly driver: 'openstack' | 'noop';
  readonly executor_timeout: number;
  readonly executor_batch_size: number;
  readonly executor_batch_window: number;
  readonly executor_max_concurrency: number;
  readonly openstack: OpenStackConnection;
  readonly noop: { readonly boot_seconds: number; readonly boot_failure_rate: number };
}

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

/**
 * A source of configuration that cannot be read: a `--config` file that is missing or not JSON,
 * a clouds.yaml that is not found or does not parse, a corrupt `.local/config.json`. A bad
 * configuration, like `ConfigError` (the CLI exits 2 for both).
 */
export class ConfigSourceError extends HousekeeperError {}

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

/** `pools[small].openstack.flavor_id`: a pool's fields are named with the pool's name. */
function fieldName(input: unknown, path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(configuration)';
  return path
    .map((k, i) => {
      if (typeof k === 'number') {
        const name =
          path[i - 1] === 'pools' && i === 1 ? at(input, ['pools', k, 'name']) : undefined;
        return typeof name === 'string' && POOL_NAME.test(name) ? `[${name}]` : `[${k}]`;
      }
      return i === 0 ? String(k) : `.${String(k)}`;
    })
    .join('');
}

function zoneSpec(z: { name: string; compute_zone?: string; network_ids?: string[] }) {
  return {
    name: z.name,
    ...(z.compute_zone !== undefined ? { compute_zone: z.compute_zone } : {}),
    ...(z.network_ids !== undefined ? { network_ids: z.network_ids } : {}),
  } satisfies ZoneSpec;
}

type LaunchInput = Partial<Record<(typeof LAUNCH_FIELDS)[number], unknown>>;

function launchOf(top: LaunchInput, own: LaunchInput | undefined): LaunchSpec {
  const pick = <K extends keyof LaunchInput>(k: K) =>
    own && own[k] !== undefined ? own[k] : top[k];
  // An image named in the pool replaces the top level's, whichever way the top level names it.
  const ownImage = own?.image_id !== undefined || own?.image_tag !== undefined;
  const image = ownImage ? own : top;
  const spec: Record<string, unknown> = {
    network_ids: pick('network_ids') ?? [],
    security_group_ids: pick('security_group_ids') ?? [],
    config_drive: pick('config_drive') ?? false,
  };
  for (const k of ['flavor_id', 'key_name', 'server_group_id', 'user_data'] as const) {
    if (pick(k) !== undefined) spec[k] = pick(k);
  }
  for (const k of ['image_id', 'image_tag'] as const) {
    if (image?.[k] !== undefined) spec[k] = image[k];
  }
  if (pick('image_owner_id') !== undefined) spec.image_owner_id = pick('image_owner_id');
  return spec as unknown as LaunchSpec;
}

/** The pools a raw configuration describes, every default filled in. */
function poolsOf(raw: RawConfig): PoolSpec[] {
  const zones = (list: RawConfig['availability_zones']): ZoneSpec[] =>
    list.length > 0 ? list.map(zoneSpec) : [{ name: ANY_ZONE }];
  const entries = raw.pools ?? [{ name: DEFAULT_POOL }];
  return entries.map((p) => ({
    name: p.name,
    spare_amphora_pool_size:
      'spare_amphora_pool_size' in p && p.spare_amphora_pool_size !== undefined
        ? p.spare_amphora_pool_size
        : raw.spare_amphora_pool_size,
    zones: zones(('availability_zones' in p && p.availability_zones) || raw.availability_zones),
    launch: launchOf(raw.openstack, 'openstack' in p ? p.openstack : undefined),
    rotation_budget: ('rotation_budget' in p && p.rotation_budget) || raw.rotation_budget,
    ...('maximum_deploying_amphora_count' in p && p.maximum_deploying_amphora_count !== undefined
      ? { maximum_deploying_amphora_count: p.maximum_deploying_amphora_count }
      : {}),
    ...('maximum_preserved_amphora_count' in p && p.maximum_preserved_amphora_count !== undefined
      ? { maximum_preserved_amphora_count: p.maximum_preserved_amphora_count }
      : {}),
  }));
}

/** Where a field of pool `i` is written: in the pool when set there, else at the top level. */
function poolField(raw: RawConfig, i: number, field: string): string {
  const entry = raw.pools?.[i] as Record<string, unknown> | undefined;
  const [head, tail] = field.split('.') as [string, string | undefined];
  const own =
    tail === undefined ? entry?.[head] : (entry?.[head] as Record<string, unknown>)?.[tail];
  if (raw.pools === undefined || own === undefined) return field;
  return `pools[${raw.pools[i]!.name}].${field}`;
}

function crossFieldProblems(raw: RawConfig, c: HousekeeperConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const rule = (field: string, value: unknown, text: string) =>
    problems.push({ field, value, rule: text });
  // A cap below the value it caps.
  const atLeast = (field: keyof typeof c & string, floor: keyof typeof c & string) => {
    if ((c[field] as number) < (c[floor] as number)) {
      rule(field, c[field], `must be at least ${floor} (${c[floor]})`);
    }
  };
  atLeast('create_backoff_max', 'create_backoff_initial');
  atLeast('delete_backoff_max', 'delete_backoff_initial');
  if (c.preservation_timeout <= c.check_max_delay) {
    rule(
      'preservation_timeout',
      c.preservation_timeout,
      `must exceed check_max_delay (${c.check_max_delay}), or a snapshot times out between two polls`,
    );
  }
  atLeast('check_max_delay', 'check_initial_delay');
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
  if (raw.ownership_tag === undefined && !/^[^,/:]{1,60}$/.test(c.deployment_name)) {
    rule('ownership_tag', undefined, 'must be set: deployment_name cannot serve as a Nova tag');
  }
  const seen = new Set<string>();
  c.pools.forEach((pool, i) => {
    const name = `pools[${pool.name}]`;
    if (seen.has(pool.name)) rule(`pools[${i}].name`, pool.name, 'must be unique among the pools');
    seen.add(pool.name);
    const zoneNames = pool.zones.map((z) => z.name);
    if (zoneNames.some((z, j) => zoneNames.indexOf(z) !== j)) {
      rule(poolField(raw, i, 'availability_zones'), zoneNames, 'must not name a zone twice');
    }
    for (const [field, cap] of [
      ['maximum_deploying_amphora_count', c.maximum_deploying_amphora_count],
      ['maximum_preserved_amphora_count', c.maximum_preserved_amphora_count],
    ] as const) {
      const own = pool[field];
      if (own !== undefined && own > cap) {
        rule(`${name}.${field}`, own, `must be at most the global ${field} (${cap})`);
      }
    }
    if (c.driver !== 'openstack') return;
    const l = pool.launch;
    if ((l.image_id === undefined) === (l.image_tag === undefined)) {
      rule(
        poolField(raw, i, 'openstack.image_id'),
        l.image_id,
        'exactly one of openstack.image_id and openstack.image_tag must be set when driver is openstack',
      );
    }
    if (l.flavor_id === undefined) {
      rule(
        poolField(raw, i, 'openstack.flavor_id'),
        l.flavor_id,
        'is required when driver is openstack',
      );
    }
    const unnetworked = pool.zones.filter((z) => (z.network_ids ?? l.network_ids).length === 0);
    if (unnetworked.length > 0) {
      rule(
        poolField(raw, i, 'openstack.network_ids'),
        l.network_ids,
        `must name at least one network when driver is openstack${pool.zones.length > 1 || pool.zones[0]?.name !== ANY_ZONE ? ` (or each zone its own: ${unnetworked.map((z) => z.name).join(', ')} has none)` : ''}`,
      );
    }
  });
  return problems;
}

/** The validated configuration of a parsed raw one, before the cross-field rules. */
function resolve(raw: RawConfig): HousekeeperConfig {
  const { cloud, region_name, interface: iface, ca_bundle_file, request_timeout } = raw.openstack;
  return {
    housekeeping_interval: raw.housekeeping_interval,
    deployment_name: raw.deployment_name,
    ownership_tag: raw.ownership_tag ?? raw.deployment_name,
    pools: poolsOf(raw),
    maximum_deploying_amphora_count: raw.maximum_deploying_amphora_count,
    maximum_preserved_amphora_count: raw.maximum_preserved_amphora_count,
    preservation_scheme: raw.preservation_scheme,
    preservation_method: raw.preservation_method,
    driver: raw.driver,
    image_refresh_interval: raw.image_refresh_interval,
    boot_timeout: raw.boot_timeout,
    amphora_expiry_age: raw.amphora_expiry_age,
    create_backoff_initial: raw.create_backoff_initial,
    create_backoff_max: raw.create_backoff_max,
    orphan_sweep_interval:
      raw.orphan_sweep_interval ?? Math.max(DEFAULT_SWEEP_INTERVAL, raw.housekeeping_interval),
    orphan_grace_period: raw.orphan_grace_period,
    task_timeout: raw.task_timeout,
    task_max_attempts: raw.task_max_attempts,
    delete_max_attempts: raw.delete_max_attempts,
    delete_backoff_initial: raw.delete_backoff_initial,
    delete_backoff_max: raw.delete_backoff_max,
    preservation_timeout: raw.preservation_timeout,
    check_initial_delay: raw.check_initial_delay,
    check_max_delay: raw.check_max_delay,
    planner_lease_ttl: raw.planner_lease_ttl,
    executor_timeout: raw.executor_timeout,
    executor_batch_size: raw.executor_batch_size,
    executor_batch_window: raw.executor_batch_window,
    executor_max_concurrency: raw.executor_max_concurrency,
    openstack: {
      interface: iface,
      request_timeout,
      ...(cloud !== undefined ? { cloud } : {}),
      ...(region_name !== undefined ? { region_name } : {}),
      ...(ca_bundle_file !== undefined ? { ca_bundle_file } : {}),
    },
    noop: raw.noop,
  };
}

/** The problems zod found, one per field, unknown keys one per key. */
function fieldProblems(input: unknown, issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const inPool = issue.path[0] === 'pools' && issue.path[2] === 'openstack';
        problems.push({
          field: fieldName(input, path),
          value: at(input, path),
          rule:
            inPool && (CONNECTION_FIELDS as readonly string[]).includes(key)
              ? 'is a connection setting: set it once in the top-level openstack section'
              : issue.path[0] === 'pools' && issue.path.length === 2
                ? 'is not a known pool option'
                : 'is not a known option',
        });
      }
      continue;
    }
    // A zone written as a plain name is reported as written, not as the `name` it stands for.
    const path =
      issue.path.at(-1) === 'name' && typeof at(input, issue.path.slice(0, -1)) !== 'object'
        ? issue.path.slice(0, -1)
        : issue.path;
    const field = fieldName(input, path);
    // One problem per field: the first rule it breaks (e.g. "at least 60" over "a multiple of 60").
    if (problems.some((p) => p.field === field)) continue;
    problems.push({ field, value: at(input, path), rule: issue.message });
  }
  return problems;
}

/** A deep copy of `input` without the values at `paths` (so their defaults apply). */
function without(input: unknown, paths: ReadonlyArray<readonly PropertyKey[]>): unknown {
  const copy = structuredClone(input ?? {}) as Record<PropertyKey, unknown>;
  for (const path of paths) {
    let node: unknown = copy;
    for (const key of path.slice(0, -1)) {
      node =
        node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined;
    }
    if (node && typeof node === 'object') {
      const last = path.at(-1)!;
      if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1, undefined);
      else delete (node as Record<PropertyKey, unknown>)[last];
    }
  }
  return copy;
}

/**
 * Validates a raw configuration object and fills in defaults.
 * @param sources maps a field name to where its value came from, for the messages.
 * @throws ConfigError listing every problem found: bad fields and broken cross-field rules together.
 */
export function parseConfig(
  input: unknown,
  sources: Readonly<Record<string, string>> = {},
): HousekeeperConfig {
  const result = configSchema().safeParse(input ?? {}, { reportInput: true });
  let problems: ConfigProblem[] = [];
  let raw: RawConfig | undefined;
  if (result.success) raw = result.data;
  else {
    problems = fieldProblems(input, result.error.issues);
    // The cross-field rules still run over the fields that are fine: a second parse with the bad
    // values left out gives them their defaults, and a rule whose field was bad is not reported.
    const paths = result.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? [...i.path, ...i.keys] : i.path,
    );
    const retry = configSchema().safeParse(without(input, paths));
    if (retry.success) raw = retry.data;
  }
  let config: HousekeeperConfig | undefined;
  if (raw) {
    config = resolve(raw);
    const bad = new Set(problems.map((p) => p.field));
    const prefixes = [...bad];
    problems.push(
      ...crossFieldProblems(raw, config).filter(
        (p) => !bad.has(p.field) && !prefixes.some((b) => p.field.startsWith(`${b}.`)),
      ),
    );
  }
  if (problems.length > 0 || !config) {
    // A top-level default that several pools inherit is reported once.
    const unique = problems.filter(
      (p, i) => problems.findIndex((q) => q.field === p.field && q.rule === p.rule) === i,
    );
    throw new ConfigError(unique.map((p) => ({ ...p, ...sourceOf(sources, p.field) })));
  }
  return config;
}

/** Where a field's value came from; list elements (`zones[1]`) come from their list's source. */
function sourceOf(sources: Readonly<Record<string, string>>, field: string): { source?: string } {
  const source = sources[field] ?? sources[field.replace(/\[\d+\]$/, '')];
  return source ? { source } : {};
}

/**
 * A validated configuration written back as a raw one, every pool explicit: what a file or
 * `HOUSEKEEPER_CONFIG` would hold to mean exactly this configuration.
 */
export function configToRaw(config: HousekeeperConfig): Record<string, unknown> {
  const { pools, ...rest } = config;
  return {
    ...rest,
    pools: pools.map((p) => ({
      name: p.name,
      spare_amphora_pool_size: p.spare_amphora_pool_size,
      availability_zones: p.zones.filter((z) => z.name !== ANY_ZONE),
      rotation_budget: p.rotation_budget,
      openstack: { ...p.launch },
      ...(p.maximum_deploying_amphora_count !== undefined
        ? { maximum_deploying_amphora_count: p.maximum_deploying_amphora_count }
        : {}),
      ...(p.maximum_preserved_amphora_count !== undefined
        ? { maximum_preserved_amphora_count: p.maximum_preserved_amphora_count }
        : {}),
    })),
  };
}

/**
 * The inverse of {@link configToRaw}, without validating: the configuration a raw one written by
 * `configToRaw` means. Only for a value proven to be such, i.e. one whose checksum
 * (`HOUSEKEEPER_CONFIG_CHECKSUM`) matches what the stack validated at synth; everything else goes
 * through {@link parseConfig}. Gives exactly what `parseConfig` gives for the same value (a test
 * proves it), without building the schema.
 */
export function trustedConfig(raw: Record<string, unknown>): HousekeeperConfig {
  const { pools, ...rest } = raw as unknown as Omit<HousekeeperConfig, 'pools'> & {
    pools: ReadonlyArray<{
      name: string;
      spare_amphora_pool_size: number;
      availability_zones: Array<{ name: string; compute_zone?: string; network_ids?: string[] }>;
      rotation_budget: number;
      openstack: LaunchSpec;
      maximum_deploying_amphora_count?: number;
      maximum_preserved_amphora_count?: number;
    }>;
  };
  return {
    ...rest,
    pools: pools.map((p) => ({
      name: p.name,
      spare_amphora_pool_size: p.spare_amphora_pool_size,
      zones:
        p.availability_zones.length > 0 ? p.availability_zones.map(zoneSpec) : [{ name: ANY_ZONE }],
      launch: p.openstack,
      rotation_budget: p.rotation_budget,
      ...(p.maximum_deploying_amphora_count !== undefined
        ? { maximum_deploying_amphora_count: p.maximum_deploying_amphora_count }
        : {}),
      ...(p.maximum_preserved_amphora_count !== undefined
        ? { maximum_preserved_amphora_count: p.maximum_preserved_amphora_count }
        : {}),
    })),
  };
}
