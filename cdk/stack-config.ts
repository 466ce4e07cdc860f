/**
 * What `cdk synth` reads: the runtime configuration (the one schema of `lib/config/schema.ts`)
 * and the stack's own options (where the credentials live, the VPC, the permissions boundary,
 * logs and alarms), from the app's context or from a JSON file the context names. Every bad
 * value, in either part, is reported at once in one {@link ConfigError}: field, value, rule.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as z from 'zod';
import {
  ConfigError,
  type ConfigProblem,
  configToRaw,
  type HousekeeperConfig,
  parseConfig,
} from '../lib/config/schema.ts';

/** The context keys the app reads. */
export const CONTEXT_KEYS = {
  /** The runtime configuration: an object, or its JSON text (`-c housekeeper='{…}'`). */
  config: 'housekeeper',
  /** The stack options: an object, or its JSON text. */
  stack: 'housekeeper_stack',
  /** A JSON file holding `{ "housekeeper": {…}, "housekeeper_stack": {…} }`, relative to the app. */
  file: 'housekeeper_file',
} as const;

/** CloudWatch Logs retention periods, in days (the finite ones: logs never pile up forever). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;

/** CloudWatch's longest alarm evaluation window for periods under an hour, and otherwise. */
export const ALARM_WINDOW_LIMIT_SECONDS = { underAnHour: 86_400, otherwise: 604_800 } as const;

const text = z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' });

function pattern(re: RegExp, rule: string) {
  return text.regex(re, { error: rule });
}

const secretArn = pattern(
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
  'must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)',
);
const secretName = pattern(
  /^[A-Za-z0-9/_+=.@-]{1,512}$/,
  'must be a Secrets Manager secret name (letters, digits and /_+=.@-)',
);
const kmsKeyArn = pattern(
  /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
  'must be the ARN of a KMS key (arn:aws:kms:REGION:ACCOUNT:key/ID)',
);

/** The schema of the stack options (`housekeeper_stack`). */
export const stackOptionsSchema = z.strictObject(
  {
    /** The CloudFormation stack name. */
    stack_name: pattern(
      /^[A-Za-z][A-Za-z0-9-]{0,127}$/,
      'must start with a letter and hold only letters, digits and hyphens (at most 128)',
    ).default('AmphoraHousekeeper'),
    /**
     * Where the openstack driver's credentials live: an existing secret by complete ARN or by
     * name (with the KMS key that encrypts it, when that is a customer-managed key). When absent
     * and the driver is openstack, the stack creates an empty secret for the operator to fill.
     */
    credentials_secret: z
      .strictObject(
        {
          arn: secretArn.optional(),
          name: secretName.optional(),
          kms_key_arn: kmsKeyArn.optional(),
        },
        { error: 'must be an object' },
      )
      .optional(),
    /** A VPC for the executor, to reach a private OpenStack API. The planner calls no cloud. */
    vpc: z
      .strictObject(
        {
          vpc_id: pattern(/^vpc-[0-9a-f]{8,17}$/, 'must be a VPC id (vpc-…)'),
          subnet_ids: z
            .array(pattern(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id (subnet-…)'), {
              error: 'must be a list of subnet ids',
            })
            .min(1, { error: 'must name at least one subnet' }),
          security_group_ids: z
            .array(pattern(/^sg-[0-9a-f]{8,17}$/, 'must be a security group id (sg-…)'), {
              error: 'must be a list of security group ids',
            })
            .default([]),
        },
        { error: 'must be an object' },
      )
      .optional(),
    /** A managed policy set as the permissions boundary of every role the stack creates. */
    permissions_boundary_arn: pattern(
      /^arn:aws[a-z-]*:iam::\d{12}:policy\/[A-Za-z0-9/_+=,.@-]+$/,
      'must be the ARN of an IAM managed policy (arn:aws:iam::ACCOUNT:policy/NAME)',
    ).optional(),
    /** Days the functions' log groups keep their events. */
    log_retention_days: z
      .number({ error: 'must be a number' })
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        error: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    /** The functions' application log level. */
    log_level: z
      .enum(['DEBUG', 'INFO', 'WARN', 'ERROR'], {
        error: 'must be one of DEBUG, INFO, WARN, ERROR',
      })
      .default('INFO'),
    /** Where the runbook is published; every alarm's description links to a section of it. */
    runbook_url: text
      .max(512, { error: 'must be at most 512 characters' })
      .regex(/^[^#\s]+$/, { error: 'must not contain "#" or whitespace (sections are appended)' })
      .default('docs/runbook.md'),
    /** Consecutive planner cycles with spares below target before the alarm fires. */
    spares_below_target_cycles: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(1, { error: 'must be at least 1' })
      .optional(),
  },
  { error: 'must be an object' },
);

/** The stack options, validated, every derived default filled in. */
export type StackOptions = Omit<
  z.output<typeof stackOptionsSchema>,
  'spares_below_target_cycles'
> & {
  readonly spares_below_target_cycles: number;
};

/** Everything synth needs: the runtime configuration and the stack options. */
export interface DeploymentConfig {
  readonly config: HousekeeperConfig;
  readonly stack: StackOptions;
}

/** The app's context, as `node.tryGetContext` reads it. */
export type ContextReader = (key: string) => unknown;

/** The longest evaluation window CloudWatch accepts for alarms of this period. */
export function alarmWindowLimitSeconds(periodSeconds: number): number {
  return periodSeconds < 3_600
    ? ALARM_WINDOW_LIMIT_SECONDS.underAnHour
    : ALARM_WINDOW_LIMIT_SECONDS.otherwise;
}

/**
 * Cycles of spares below target before alarming, by default: a boot may take up to
 * `boot_timeout`, so a deficit is only news once it outlasts that by two cycles.
 */
export function defaultSparesBelowTargetCycles(
  config: Pick<HousekeeperConfig, 'boot_timeout' | 'housekeeping_interval'>,
): number {
  const interval = config.housekeeping_interval;
  const wanted = Math.ceil(config.boot_timeout / interval) + 2;
  return Math.max(1, Math.min(wanted, Math.floor(alarmWindowLimitSeconds(interval) / interval)));
}

function fieldName(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, k) => (typeof k === 'number' ? `${name}[${k}]` : `${name}.${String(k)}`),
    prefix,
  );
}

function at(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** The problems of a stack options object, one per field, named from `housekeeper_stack`. */
function stackOptionProblems(input: unknown): {
  options?: z.output<typeof stackOptionsSchema>;
  problems: ConfigProblem[];
} {
  const result = stackOptionsSchema.safeParse(input ?? {});
  if (result.success) return { options: result.data, problems: [] };
  const problems: ConfigProblem[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        problems.push({
          field: fieldName(CONTEXT_KEYS.stack, path),
          value: at(input, path),
          rule: 'is not a known stack option',
        });
      }
      continue;
    }
    const field = fieldName(CONTEXT_KEYS.stack, issue.path);
    if (problems.some((p) => p.field === field)) continue;
    problems.push({ field, value: at(input, issue.path), rule: issue.message });
  }
  return { problems };
}

function crossFieldProblems(
  config: HousekeeperConfig,
  options: z.output<typeof stackOptionsSchema>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const secret = options.credentials_secret;
  const field = (name: string) => `${CONTEXT_KEYS.stack}.${name}`;
  if (secret && config.driver !== 'openstack') {
    problems.push({
      field: field('credentials_secret'),
      value: secret,
      rule: `must not be set when driver is ${config.driver}: only the openstack driver reads credentials`,
    });
  } else if (secret && !secret.arn === !secret.name) {
    problems.push({
      field: field('credentials_secret'),
      value: secret,
      rule: 'must name the secret by exactly one of arn and name',
    });
  }
  const cycles = options.spares_below_target_cycles;
  const interval = config.housekeeping_interval;
  if (cycles !== undefined && cycles * interval > alarmWindowLimitSeconds(interval)) {
    problems.push({
      field: field('spares_below_target_cycles'),
      value: cycles,
      rule: `times housekeeping_interval (${interval} s) must be at most ${alarmWindowLimitSeconds(interval)} s, CloudWatch's longest alarm window for that period`,
    });
  }
  return problems;
}

/** Lambda's limit on one function's environment (names and values), in bytes. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4_096;
/** Room left for the other variables (table, queues, secret, Powertools, Node options). */
export const OTHER_VARIABLES_BYTES = 1_024;

function sizeProblems(config: HousekeeperConfig): ConfigProblem[] {
  const bytes = Buffer.byteLength(JSON.stringify(configToRaw(config)));
  const room = LAMBDA_ENVIRONMENT_LIMIT_BYTES - OTHER_VARIABLES_BYTES;
  if (bytes <= room) return [];
  return [
    {
      field: CONTEXT_KEYS.config,
      value: `(${bytes} bytes as JSON)`,
      rule: `must be at most ${room} bytes as JSON: it travels in the functions' environment, which Lambda limits to ${LAMBDA_ENVIRONMENT_LIMIT_BYTES} bytes (openstack.user_data is the usual culprit)`,
    },
  ];
}

function jsonValue(key: string, raw: unknown, problems: ConfigProblem[]): unknown {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch (error) {
    problems.push({
      field: key,
      value: raw,
      rule: `must be a JSON object (${(error as Error).message})`,
    });
    return undefined;
  }
}

/** The raw runtime configuration and stack options, from the context or the file it names. */
function rawSources(
  context: ContextReader,
  baseDir: string,
  problems: ConfigProblem[],
): { config: unknown; stack: unknown } {
  const file = context(CONTEXT_KEYS.file);
  const inline = {
    config: jsonValue(CONTEXT_KEYS.config, context(CONTEXT_KEYS.config), problems),
    stack: jsonValue(CONTEXT_KEYS.stack, context(CONTEXT_KEYS.stack), problems),
  };
  if (file === undefined) return inline;
  if (typeof file !== 'string' || file === '') {
    problems.push({ field: CONTEXT_KEYS.file, value: file, rule: 'must be a file name' });
    return inline;
  }
  for (const [part, key] of [
    ['config', CONTEXT_KEYS.config],
    ['stack', CONTEXT_KEYS.stack],
  ] as const) {
    if (inline[part] !== undefined) {
      problems.push({
        field: key,
        value: inline[part],
        rule: `must not be set in the context when ${CONTEXT_KEYS.file} (${file}) is: the file holds it`,
      });
    }
  }
  let content: unknown;
  try {
    content = JSON.parse(readFileSync(resolve(baseDir, file), 'utf8'));
  } catch (error) {
    problems.push({
      field: CONTEXT_KEYS.file,
      value: file,
      rule: `must name a readable JSON file (${(error as Error).message})`,
    });
    return { config: undefined, stack: undefined };
  }
  if (content === null || typeof content !== 'object' || Array.isArray(content)) {
    problems.push({
      field: CONTEXT_KEYS.file,
      value: file,
      rule: `must hold a JSON object with "${CONTEXT_KEYS.config}" and "${CONTEXT_KEYS.stack}"`,
    });
    return { config: undefined, stack: undefined };
  }
  const known = new Set<string>([CONTEXT_KEYS.config, CONTEXT_KEYS.stack]);
  for (const key of Object.keys(content)) {
    if (!known.has(key)) {
      problems.push({
        field: `${file}: ${key}`,
        value: (content as Record<string, unknown>)[key],
        rule: `is not a known key (the file holds "${CONTEXT_KEYS.config}" and "${CONTEXT_KEYS.stack}")`,
      });
    }
  }
  const record = content as Record<string, unknown>;
  return { config: record[CONTEXT_KEYS.config], stack: record[CONTEXT_KEYS.stack] };
}

/**
 * The configuration with `deployment_name` defaulting to the stack's name, so that two stacks
 * on one cloud own their servers under different tags unless told otherwise.
 */
function withDeploymentName(raw: unknown, stackName: string | undefined): unknown {
  if (stackName === undefined || raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return raw ?? {};
  }
  if ('deployment_name' in raw || 'ownership_tag' in raw) return raw;
  return { ...raw, deployment_name: stackName.slice(0, 60) };
}

/**
 * Reads and validates the deployment configuration from an app's context.
 * @param baseDir where a `housekeeper_file` is looked up (the app's working directory).
 * @throws ConfigError naming every bad field, value and rule of both parts at once.
 */
export function deploymentConfig(
  context: ContextReader,
  baseDir: string = process.cwd(),
): DeploymentConfig {
  const problems: ConfigProblem[] = [];
  const raw = rawSources(context, baseDir, problems);
  const { options, problems: optionProblems } = stackOptionProblems(raw.stack);
  let config: HousekeeperConfig | undefined;
  try {
    config = parseConfig(withDeploymentName(raw.config, options?.stack_name));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  problems.push(...optionProblems);
  if (config && options) problems.push(...crossFieldProblems(config, options));
  if (config) problems.push(...sizeProblems(config));
  if (problems.length > 0 || !config || !options) throw new ConfigError(problems);
  return {
    config,
    stack: {
      ...options,
      spares_below_target_cycles:
        options.spares_below_target_cycles ?? defaultSparesBelowTargetCycles(config),
    },
  };
}
