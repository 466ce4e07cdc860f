/**
 * The stack synthesised for each configuration the CDK tests look at, once per test file (the
 * bundling and cdk-nag dominate the cost). Every synth runs cdk-nag: a finding nobody
 * acknowledged throws here, so a test that gets a template also proves a clean nag report.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp, type HousekeeperApp } from '../../../cdk/app.ts';

const OPENSTACK = {
  driver: 'openstack',
  openstack: { image_id: 'image-1', flavor_id: 'flavor-1', network_ids: ['net-1'] },
} as const;

/** The configurations: context `housekeeper` and `housekeeper_stack`. */
export const VARIANTS = {
  /** cdk.json's defaults: the noop driver, nothing optional. */
  noop: { config: {}, stack: {} },
  /** The openstack driver with a secret the stack creates. */
  openstack: { config: OPENSTACK, stack: {} },
  /** Every option: imported secret by name with its KMS key, a VPC, a permissions boundary. */
  everything: {
    config: {
      ...OPENSTACK,
      housekeeping_interval: 300,
      planner_lease_ttl: 600,
      availability_zones: ['az-1', 'az-2'],
      spare_amphora_pool_size: 4,
      task_max_attempts: 7,
      executor_timeout: 90,
      executor_batch_size: 20,
      executor_batch_window: 2,
      executor_max_concurrency: 3,
    },
    stack: {
      stack_name: 'HousekeeperEverything',
      credentials_secret: {
        name: 'octavia/housekeeper',
        kms_key_arn: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      },
      vpc: {
        vpc_id: 'vpc-0123456789abcdef0',
        subnet_ids: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'],
      },
      permissions_boundary_arn: 'arn:aws:iam::111122223333:policy/housekeeper-boundary',
      log_retention_days: 90,
      log_level: 'DEBUG',
      runbook_url: 'https://git.example.com/ops/amphora-housekeeper/blob/main/docs/runbook.md',
      spares_below_target_cycles: 6,
    },
  },
  /** The openstack driver with its secret imported by complete ARN. */
  importedArn: {
    config: OPENSTACK,
    stack: {
      credentials_secret: {
        arn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:octavia/housekeeper-AbCdEf',
      },
    },
  },
} as const;

/** A variant's name. */
export type Variant = keyof typeof VARIANTS;

/** A synthesised variant. */
export interface Synthesized extends HousekeeperApp {
  readonly template: Template;
  /** The template as JSON. */
  readonly json: TemplateJson;
  readonly assembly: CloudAssembly;
  readonly outdir: string;
}

/** A value inside a template: the tests navigate CloudFormation JSON freely and assert on it. */
// biome-ignore lint/suspicious/noExplicitAny: template JSON is walked without a schema
export type Json = any;

/** The parts of a template JSON the tests read. */
export interface TemplateJson {
  readonly Resources: Record<
    string,
    { Type: string; Properties?: Record<string, Json>; [k: string]: Json }
  >;
  readonly Outputs?: Record<string, { Value: unknown }>;
}

const cache = new Map<string, Synthesized>();
const outdirs: string[] = [];
// The assemblies (two bundles each) go when the test file's worker does.
process.once('exit', () => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** Synthesises an app from context (cdk-nag included), in a fresh output directory. */
export function synthesize(context: Record<string, unknown>): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'housekeeper-synth-'));
  outdirs.push(outdir);
  // As `cdk synth` runs the app: resource paths and asset paths in the template's metadata.
  const built = buildApp({
    context: {
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:enable-asset-metadata': true,
      ...context,
    },
    outdir,
  });
  const assembly = built.app.synth();
  const artifact = assembly.getStackByName(built.stack.stackName);
  return {
    ...built,
    assembly,
    outdir,
    template: Template.fromStack(built.stack),
    json: JSON.parse(readFileSync(join(outdir, artifact.templateFile), 'utf8')) as TemplateJson,
  };
}

/** A variant, synthesised once per test file. */
export function synth(variant: Variant): Synthesized {
  const known = cache.get(variant);
  if (known) return known;
  const { config, stack } = VARIANTS[variant];
  const made = synthesize({ housekeeper: config, housekeeper_stack: stack });
  cache.set(variant, made);
  return made;
}

/** The resources of one type, as [logical id, properties]. */
export function resourcesOf(
  json: TemplateJson,
  type: string,
): Array<[string, Record<string, Json>]> {
  return Object.entries(json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}
