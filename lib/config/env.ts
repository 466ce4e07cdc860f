/**
 * Environment-variable names shared by the CDK app (which sets them) and the runtime (which
 * reads them through `functions/`), and the pure mapping from an environment to a raw config.
 */
import * as z from 'zod';
import { configChecksum, ENV } from './deployment.ts';
import {
  ConfigError,
  type ConfigProblem,
  configSchema,
  type HousekeeperConfig,
  parseConfig,
  trustedConfig,
} from './schema.ts';

export { ENV } from './deployment.ts';

const PREFIX = 'HOUSEKEEPER_';
const RESERVED = new Set<string>(Object.values(ENV));

type Kind = 'number' | 'boolean' | 'list' | 'string';

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      s = s.in as z.ZodType;
    } else {
      return s;
    }
  }
}

function kindOf(schema: z.ZodType): Kind {
  const s = unwrap(schema);
  if (s instanceof z.ZodNumber) return 'number';
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodArray) return 'list';
  return 'string';
}

/** Every option as a dotted field name with its kind, e.g. `openstack.flavor_id`. */
function optionFields(): Map<string, Kind> {
  const fields = new Map<string, Kind>();
  for (const [key, schema] of Object.entries(configSchema().shape)) {
    // Pools are lists of objects: only the JSON (HOUSEKEEPER_CONFIG, a file) can hold them.
    if (key === 'pools') continue;
    const inner = unwrap(schema as z.ZodType);
    if (inner instanceof z.ZodObject) {
      for (const [sub, subSchema] of Object.entries(inner.shape)) {
        fields.set(`${key}.${sub}`, kindOf(subSchema as z.ZodType));
      }
    } else {
      fields.set(key, kindOf(schema as z.ZodType));
    }
  }
  return fields;
}

/** The environment variable that sets an option: `openstack.flavor_id` → `HOUSEKEEPER_OPENSTACK_FLAVOR_ID`. */
export function envNameOf(field: string): string {
  return PREFIX + field.replace('.', '_').toUpperCase();
}

function coerce(kind: Kind, text: string): unknown {
  switch (kind) {
    case 'number': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? n : text;
    }
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'list':
      return text.trim() === ''
        ? []
        : text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
    default:
      return text;
  }
}

function setAt(target: Record<string, unknown>, field: string, value: unknown): void {
  const [head, tail] = field.split('.') as [string, string | undefined];
  if (tail === undefined) {
    target[head] = value;
    return;
  }
  const section = target[head];
  const obj =
    section && typeof section === 'object' && !Array.isArray(section)
      ? (section as Record<string, unknown>)
      : {};
  obj[tail] = value;
  target[head] = obj;
}

/**
 * `over` on top of `under`, one level deep: an options section (`openstack`, `noop`) given in
 * both keeps the fields only `under` sets. Lists (`pools`, `network_ids`, …) are replaced whole.
 */
export function mergeRawConfigs(
  under: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    const below = merged[key];
    merged[key] = isSection(below) && isSection(value) ? { ...below, ...value } : value;
  }
  return merged;
}

function isSection(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Every dotted field a raw configuration sets: `spare_amphora_pool_size`, `openstack.flavor_id`. */
function fieldsSet(raw: Record<string, unknown>): string[] {
  return Object.entries(raw).flatMap(([key, value]) =>
    isSection(value) ? Object.keys(value).map((sub) => `${key}.${sub}`) : [key],
  );
}

/** What `configFromEnv` puts under and over the environment's configuration. */
export interface ConfigLayers {
  /** Under everything (e.g. the local run's defaults), named `defaultsSource` in messages. */
  readonly defaults?: Record<string, unknown>;
  readonly defaultsSource?: string;
  /** Over everything (what the command line gave, e.g. the CLI's `--config` file). */
  readonly overrides?: Record<string, unknown>;
  /** Where `overrides` came from, for the messages (e.g. `--config f.json`). */
  readonly overridesSource?: string;
}

/**
 * Reads a configuration from environment variables: `HOUSEKEEPER_CONFIG` (JSON) first, then one
 * `HOUSEKEEPER_<OPTION>` variable per option on top; `layers.defaults` under them and
 * `layers.overrides` over them. Takes the environment as an argument so that only `functions/`
 * touches `process.env`. Every value a message blames is named with its source.
 * @throws ConfigError naming every bad variable and value.
 */
export function configFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  layers: ConfigLayers = {},
): HousekeeperConfig {
  return layeredConfig(env, layers).config;
}

/**
 * `configFromEnv`, with the raw configuration it validated: what a file would hold to mean
 * the same configuration (the CLI saves it for later local commands).
 */
export function layeredConfig(
  env: Readonly<Record<string, string | undefined>>,
  layers: ConfigLayers = {},
): { config: HousekeeperConfig; raw: Record<string, unknown> } {
  const { defaults = {}, overrides = {} } = layers;
  const problems: ConfigProblem[] = [];
  let raw: Record<string, unknown> = structuredClone(defaults);
  const sources: Record<string, string> = {};
  if (layers.defaultsSource) {
    for (const field of fieldsSet(defaults)) sources[field] = layers.defaultsSource;
  }
  const json = env[ENV.config];
  if (json !== undefined && json.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(json);
      if (!isSection(parsed)) {
        problems.push({ field: ENV.config, value: json, rule: 'must be a JSON object' });
      } else {
        raw = mergeRawConfigs(raw, structuredClone(parsed));
        for (const field of fieldsSet(parsed)) delete sources[field];
      }
    } catch {
      problems.push({ field: ENV.config, value: json, rule: 'must be valid JSON' });
    }
  }
  const fields = optionFields();
  const byEnvName = new Map(
    [...fields].map(([field, kind]) => [envNameOf(field), { field, kind }]),
  );
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(PREFIX) || RESERVED.has(name) || value === undefined) continue;
    const option = byEnvName.get(name);
    if (!option) {
      problems.push({ field: name, value, rule: 'is not a known option variable' });
      continue;
    }
    setAt(raw, option.field, coerce(option.kind, value));
    sources[option.field] = name;
  }
  raw = mergeRawConfigs(raw, structuredClone(overrides));
  for (const field of fieldsSet(overrides)) {
    if (layers.overridesSource) sources[field] = layers.overridesSource;
    else delete sources[field];
  }
  if (problems.length > 0) {
    // Report the variables we could not even read together with every field problem.
    try {
      parseConfig(raw, sources);
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems);
      else throw error;
    }
    throw new ConfigError(problems);
  }
  return { config: parseConfig(raw, sources), raw };
}

/** A per-option variable (`HOUSEKEEPER_<OPTION>`, known or not) is set. */
function hasOptionVariable(env: Readonly<Record<string, string | undefined>>): boolean {
  return Object.keys(env).some(
    (name) => name.startsWith(PREFIX) && !RESERVED.has(name) && env[name] !== undefined,
  );
}

/**
 * The configuration of a deployed function. The stack validated `HOUSEKEEPER_CONFIG` at synth
 * and set `HOUSEKEEPER_CONFIG_CHECKSUM` to its checksum: while the checksum matches and no
 * per-option variable overrides it, the configuration is taken as validated, without building
 * the schema (the largest part of the cold start that validation costs). Anything else (no
 * checksum, a value edited since, an override) is validated in full by {@link configFromEnv},
 * with the same messages.
 * @throws ConfigError naming every bad variable and value.
 */
export function deployedConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): HousekeeperConfig {
  const json = env[ENV.config];
  const checksum = env[ENV.configChecksum];
  if (
    json !== undefined &&
    checksum !== undefined &&
    checksum === configChecksum(json) &&
    !hasOptionVariable(env)
  ) {
    const raw: unknown = JSON.parse(json);
    if (
      raw !== null &&
      typeof raw === 'object' &&
      Array.isArray((raw as { pools?: unknown }).pools)
    ) {
      return trustedConfig(raw as Record<string, unknown>);
    }
  }
  return configFromEnv(env);
}

/** Every option with its environment variable name, for docs and the CDK app. */
export function optionEnvNames(): Array<{ field: string; env: string }> {
  return [...optionFields().keys()].map((field) => ({ field, env: envNameOf(field) }));
}
