/**
 * Tier 0: the checks a reviewer would run on the synthesised stack. cdk-nag's AwsSolutions and
 * Serverless packs find nothing unacknowledged (and fail the synth when they do), every
 * acknowledgement is used and says why, cfn-lint finds nothing, and the template matches its
 * snapshot with the Lambda code blanked.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app.ts';
import { HousekeeperStack } from '../../cdk/housekeeper-stack.ts';
import { acknowledgements } from '../../cdk/nag.ts';
import { stackOptionsSchema } from '../../cdk/stack-config.ts';
import {
  MOTO_DROPPED_PROPERTIES,
  MOTO_UNCREATED_AVOIDED,
  MOTO_UNCREATED_TYPES,
} from '../deploy/support/moto-gaps.ts';
import { type Json, type Synthesized, synth, VARIANTS, type Variant } from './support/synth.ts';

const ALL = Object.keys(VARIANTS) as Variant[];

interface Report {
  readonly pluginReports: ReadonlyArray<{
    readonly pluginName: string;
    readonly conclusion: string;
    readonly violations: readonly Json[];
    readonly suppressedViolations: ReadonlyArray<{
      readonly ruleName: string;
      readonly acknowledgedId: string;
      readonly acknowledgedAt: string;
      readonly reason: string;
    }>;
  }>;
}

function report(s: Synthesized): Report {
  return JSON.parse(readFileSync(join(s.outdir, 'validation-report.json'), 'utf8')) as Report;
}

describe.each(ALL)('cdk-nag on the %s stack', (variant) => {
  const s = synth(variant);

  it('runs the AwsSolutions and Serverless packs and finds nothing unacknowledged', () => {
    const r = report(s);
    expect(r.pluginReports.map((p) => p.pluginName).sort()).toStrictEqual([
      'AwsSolutions',
      'Serverless',
    ]);
    for (const p of r.pluginReports) {
      expect(p.violations, p.pluginName).toStrictEqual([]);
      expect(p.conclusion, p.pluginName).toBe('success');
    }
  });

  it('uses every acknowledgement the stack declares, each with a reason of its own', () => {
    const suppressed = report(s).pluginReports.flatMap((p) => p.suppressedViolations);
    const all = acknowledgements(s.stack);
    expect(all.length).toBeGreaterThan(0);
    for (const [, ack] of all) expect(ack.reason.length, ack.id).toBeGreaterThan(80);
    // Construct annotations are acknowledged too, but cdk-nag does not report them.
    const declared = all.filter(([, a]) => !a.id.startsWith(ANNOTATION));
    for (const [construct, ack] of declared) {
      const used = suppressed.filter(
        (v) => v.acknowledgedId === ack.id && v.acknowledgedAt === construct.node.path,
      );
      expect(used.length, `${ack.id} on ${construct.node.path} suppresses nothing`).toBeGreaterThan(
        0,
      );
      expect(ack.reason.length, ack.id).toBeGreaterThan(80);
    }
    // No finding is waved through by an acknowledgement made elsewhere.
    for (const v of suppressed) {
      expect(
        declared.some(([c, a]) => a.id === v.acknowledgedId && c.node.path === v.acknowledgedAt),
        `${v.acknowledgedId} at ${v.acknowledgedAt}`,
      ).toBe(true);
    }
  });
});

const ANNOTATION = 'Annotation::';

/** Synth without building the functions' bundles: for tests about the stack, not its code. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

describe.each(ALL)('the annotations of the %s stack', (variant) => {
  it('are all acknowledged where they arise, and no other warning is left', () => {
    const s = synth(variant);
    const acknowledged = acknowledgements(s.stack)
      .filter(([, a]) => a.id.startsWith(ANNOTATION))
      .map(([c, a]) => `/${c.node.path} ${a.id.slice(ANNOTATION.length)}`)
      .sort();
    const left = s.assembly
      .getStackByName(s.stack.stackName)
      .messages.filter((m) => m.level !== 'info');
    expect(left).toStrictEqual([]);
    // Without annotation acknowledgements, nothing was hidden: the empty list above is all.
    if (acknowledged.length === 0) return;

    // Prepare: the same stack without cdk-nag and without any acknowledgement.
    const bare = new App({ outdir: join(s.outdir, 'bare'), context: NO_BUNDLING });
    new HousekeeperStack(bare, 'Housekeeper', {
      stackName: s.stack.stackName,
      deployment: s.deployment,
    });

    // Act
    const raised = bare
      .synth()
      .getStackByName(s.stack.stackName)
      .messages.filter((m) => m.level !== 'info')
      .map((m) => `${m.id} ${String(m.entry.data).match(/\[ack: ([^\]]+)\]/)?.[1] ?? m.entry.data}`)
      .sort();

    // Assess
    expect(raised).toStrictEqual(acknowledged);
  });
});

describe('cdk-nag', () => {
  it('fails the synth on a finding nobody acknowledged, naming the rule', () => {
    // Prepare: a queue that breaks AwsSolutions rules (no DLQ, no TLS-only policy).
    const { app, stack } = buildApp({
      outdir: join(synth('noop').outdir, 'unacknowledged'),
      context: NO_BUNDLING,
    });
    new sqs.Queue(stack, 'Careless');

    // Act / Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS(3|4)/);
  });

  it('lets an acknowledgement through only where it is placed', () => {
    // Prepare: the same queue, its finding acknowledged on another construct.
    const { app, stack } = buildApp({
      outdir: join(synth('noop').outdir, 'misplaced'),
      context: NO_BUNDLING,
    });
    new sqs.Queue(stack, 'Careless');
    Validations.of(stack.poolTable).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'x',
    });

    // Act / Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});

describe('cfn-lint', () => {
  it('finds nothing in any synthesised template (W3005 aside)', () => {
    // Prepare
    const templates = ALL.map((v) => {
      const s = synth(v);
      return join(s.outdir, s.assembly.getStackByName(s.stack.stackName).templateFile);
    });
    const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
    if (version.error) {
      throw new Error(
        `cfn-lint is needed on the PATH for Tier 0 (pip install cfn-lint): ${version.error.message}`,
      );
    }

    // Act
    const lint = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...templates], {
      encoding: 'utf8',
    });

    // Assess
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});

/** The template with what changes on every code change blanked: asset hashes and paths. */
function blanked(json: Json): Json {
  const copy = structuredClone(json);
  for (const r of Object.values(copy.Resources) as Json[]) {
    if (r.Type === 'AWS::Lambda::Function') r.Properties.Code = '<code>';
    for (const key of Object.keys(r.Metadata ?? {})) {
      if (key.startsWith('aws:asset:')) r.Metadata[key] = '<asset>';
    }
  }
  return copy;
}

describe('the template', () => {
  it.each(['noop', 'everything'] as const)(
    'of the %s stack matches its snapshot, Lambda code blanked',
    async (variant) => {
      await expect(JSON.stringify(blanked(synth(variant).json), null, 2)).toMatchFileSnapshot(
        // Not .json: the formatter would rewrite it.
        `__snapshots__/${variant}.template.snap`,
      );
    },
  );
});

describe("the operator's deploy guide (docs/deploy.md)", () => {
  const guide = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
  const rows = (first: RegExp) =>
    [...guide.matchAll(/^\| `([^`]+)`\s*\|/gm)].map((m) => m[1]!).filter((c) => first.test(c));

  it('lists every stack option of the schema, and only those', () => {
    expect(rows(/^[a-z_]+$/).sort()).toStrictEqual(Object.keys(stackOptionsSchema.shape).sort());
  });

  it('describes every resource type a configuration can create, and only those', () => {
    const types = new Set(
      ALL.flatMap((v) => Object.values(synth(v).json.Resources).map((r) => r.Type as string)),
    );
    expect(rows(/^AWS::/).sort()).toStrictEqual([...types].sort());
  });

  it("names every gap of moto's that the deploy tier works around", () => {
    for (const type of [
      ...Object.keys(MOTO_UNCREATED_TYPES),
      ...Object.keys(MOTO_UNCREATED_AVOIDED),
    ]) {
      expect(guide).toContain(`\`${type}\``);
    }
    for (const properties of Object.values(MOTO_DROPPED_PROPERTIES)) {
      for (const p of properties) expect(guide).toContain(`\`${p}\``);
    }
  });
});
