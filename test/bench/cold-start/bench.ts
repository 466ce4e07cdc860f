/**
 * Cold start of the functions (issue 8, "Also"): each handler's bundle size and its cold import
 * time in a fresh Node 22 process, side by side in the same run with a bare handler that imports
 * only the same SDK clients, middy and Powertools, bundled with the same esbuild flags.
 *
 *   - The handlers' bundles are the stack's own: the app is synthesised here (NodejsFunction,
 *     local esbuild) and each function's asset directory is read from the template.
 *   - A bare handler per function imports what that function's entry point does from npm, and
 *     nothing more: @aws-sdk/client-dynamodb and -sqs, @middy/core, the Powertools logger and
 *     metrics with their middlewares, and for the executor Powertools batch and, loaded on first
 *     use as the executor loads its OpenStack driver, @aws-sdk/client-secrets-manager; for the
 *     claims API also @aws-sdk/client-lambda (the planner wake) and zod (its schemas). It builds
 *     the clients and the Powertools objects at module scope as the real one does, and wraps a
 *     no-op in middy.
 *   - Cold import: a fresh `node` process per sample (the Node 22 of the `node` devDependency,
 *     with the deployed NODE_OPTIONS=--enable-source-maps and placeholder values for the
 *     deployed variables) requires the bundle and reports `performance.now()` before and after.
 *     Node's own start is not in the figure. Samples alternate handler and bare, so drift on a
 *     shared machine hits both alike.
 *   - Reported: index.js and source-map bytes, the deflated size (about what the zip holds),
 *     min/median/max of the import over BENCH_COLD_RUNS samples, and the ratio of the medians.
 *     The goal is at most 1.3x the bare handler, per function: the run exits non-zero when a
 *     function misses it.
 *
 *   npm run bench:cold-start        # BENCH_COLD_RUNS=25 BENCH_COLD_SOURCE_MAPS=1
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import type { CfnElement } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { buildApp } from '../../../cdk/app.ts';
import { BUNDLING, PROJECT_ROOT } from '../../../cdk/bundling.ts';
import { ENV } from '../../../lib/config/deployment.ts';

/** Samples per bundle: 25, since the medians of fewer wander by ±0.1x on a shared machine. */
const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 25);
/** `0`: import without the deployed NODE_OPTIONS=--enable-source-maps, to see what it costs. */
const SOURCE_MAPS = process.env.BENCH_COLD_SOURCE_MAPS !== '0';
const GOAL = 1.3;
const OUT = join(PROJECT_ROOT, '.bench', 'cold-start.json');

/** What each function's entry point imports from npm, and builds at module scope. */
const BARE = {
  planner: `
    import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
    import { SQSClient } from '@aws-sdk/client-sqs';
    import { Logger } from '@aws-lambda-powertools/logger';
    import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
    import { Metrics } from '@aws-lambda-powertools/metrics';
    import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
    import middy from '@middy/core';
    const dynamodb = new DynamoDBClient({ retryMode: 'standard' });
    const sqs = new SQSClient({ retryMode: 'standard' });
    const logger = new Logger({ serviceName: 'bare' });
    const metrics = new Metrics({ namespace: 'Bare', serviceName: 'bare' });
    export const handler = middy(async () => ({ dynamodb: !!dynamodb, sqs: !!sqs }))
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics, { captureColdStartMetric: true }));
  `,
  executor: `
    import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
    import { SQSClient } from '@aws-sdk/client-sqs';
    import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
    import { Logger } from '@aws-lambda-powertools/logger';
    import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
    import { Metrics } from '@aws-lambda-powertools/metrics';
    import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
    import middy from '@middy/core';
    const dynamodb = new DynamoDBClient({ retryMode: 'standard' });
    const sqs = new SQSClient({ retryMode: 'standard' });
    export const secrets = async () => {
      const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
      return new SecretsManagerClient({ retryMode: 'standard' });
    };
    const logger = new Logger({ serviceName: 'bare' });
    const metrics = new Metrics({ namespace: 'Bare', serviceName: 'bare' });
    export const handler = middy(async (event, context) =>
      processPartialResponse(event, async () => { void dynamodb; void sqs; },
        new BatchProcessor(EventType.SQS), { context }))
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics, { captureColdStartMetric: true }));
  `,
  api: `
    import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
    import { LambdaClient } from '@aws-sdk/client-lambda';
    import { SQSClient } from '@aws-sdk/client-sqs';
    import { Logger } from '@aws-lambda-powertools/logger';
    import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
    import { Metrics } from '@aws-lambda-powertools/metrics';
    import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
    import middy from '@middy/core';
    import * as z from 'zod';
    const dynamodb = new DynamoDBClient({ retryMode: 'standard' });
    const sqs = new SQSClient({ retryMode: 'standard' });
    const lambda = new LambdaClient({ retryMode: 'standard' });
    const body = z.strictObject({ pool: z.string().optional(), zone: z.string().optional() });
    const logger = new Logger({ serviceName: 'bare' });
    const metrics = new Metrics({ namespace: 'Bare', serviceName: 'bare' });
    export const handler = middy(async (event) => ({
      statusCode: 200,
      body: JSON.stringify({ ok: body.safeParse(JSON.parse(event.body ?? '{}')).success, c: !!dynamodb && !!sqs && !!lambda }),
    }))
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics, { captureColdStartMetric: true }));
  `,
} as const;

type FunctionName = keyof typeof BARE;

/** The variables the deployed functions get, with placeholder resource names. */
function deployedVariables(template: TemplateJson, logicalId: string): Record<string, string> {
  const vars = template.Resources[logicalId]!.Properties.Environment.Variables as Record<
    string,
    unknown
  >;
  const placeholder: Record<string, string> = {
    [ENV.tableName]: 'bench-table',
    [ENV.queueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/bench-tasks',
    [ENV.deadLetterQueueUrl]: 'https://sqs.us-east-1.amazonaws.com/123456789012/bench-dlq',
  };
  return Object.fromEntries(
    Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : (placeholder[k] ?? 'x')]),
  );
}

interface TemplateJson {
  // biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template, read loosely
  Resources: Record<string, { Type: string; Properties: any; Metadata?: Record<string, string> }>;
}

/** One cold import in a fresh process, in milliseconds. */
function coldImport(file: string, variables: Record<string, string>): number {
  const probe = `
    const t0 = performance.now();
    const m = require(${JSON.stringify(file)});
    const t1 = performance.now();
    if (typeof m.handler !== 'function') throw new Error('no handler export');
    process.stdout.write(String(t1 - t0));
  `;
  const run = spawnSync(process.execPath, ['-e', probe], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_LAMBDA_FUNCTION_NAME: 'bench',
      ...variables,
    },
  });
  if (run.status !== 0) throw new Error(`importing ${file} failed:\n${run.stderr}`);
  return Number(run.stdout);
}

function stats(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median =
    sorted.length % 2 === 1
      ? sorted[(sorted.length - 1) / 2]!
      : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { min: sorted[0]!, median, max: sorted.at(-1)! };
}

function sizes(file: string) {
  const code = readFileSync(file);
  return {
    bytes: code.length,
    mapBytes: statSync(`${file}.map`).size,
    deflatedBytes: deflateRawSync(code, { level: 9 }).length,
  };
}

const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
const ms = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'housekeeper-cold-start-'));
  process.stderr.write('synthesising the stack (bundles as cdk deploy builds them)...\n');
  const { app, stack } = buildApp({
    context: { 'aws:cdk:enable-asset-metadata': true },
    outdir: join(work, 'cdk.out'),
  });
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stack.stackName);
  const template = JSON.parse(
    readFileSync(join(assembly.directory, artifact.templateFile), 'utf8'),
  ) as TemplateJson;
  const functions: Record<FunctionName, string> = {
    planner: stack.getLogicalId(stack.planning.planner.function.node.defaultChild as CfnElement),
    executor: stack.getLogicalId(stack.tasks.executor.function.node.defaultChild as CfnElement),
    api: stack.getLogicalId(stack.api.api.function.node.defaultChild as CfnElement),
  };

  const results: Record<string, unknown> = {};
  const missed: FunctionName[] = [];
  const rows: string[][] = [];
  for (const name of Object.keys(BARE) as FunctionName[]) {
    const logicalId = functions[name];
    const assetPath = template.Resources[logicalId]!.Metadata!['aws:asset:path']!;
    const real = join(assembly.directory, assetPath, 'index.js');
    const entry = join(PROJECT_ROOT, '.bench', 'cold-start', `bare-${name}.ts`);
    mkdirSync(join(PROJECT_ROOT, '.bench', 'cold-start'), { recursive: true });
    writeFileSync(entry, BARE[name]);
    const bare = join(work, `bare-${name}`, 'index.js');
    await build({
      entryPoints: [entry],
      outfile: bare,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: BUNDLING.target,
      minify: BUNDLING.minify,
      sourcemap: BUNDLING.sourceMap,
      sourcesContent: BUNDLING.sourcesContent,
      logLevel: 'error',
    });
    const variables = deployedVariables(template, logicalId);
    if (!SOURCE_MAPS) delete variables.NODE_OPTIONS;
    const samples = { handler: [] as number[], bare: [] as number[] };
    // One unmeasured import of each first: the page cache, not the code, would differ.
    coldImport(real, variables);
    coldImport(bare, variables);
    for (let i = 0; i < RUNS; i++) {
      samples.handler.push(coldImport(real, variables));
      samples.bare.push(coldImport(bare, variables));
    }
    const h = stats(samples.handler);
    const b = stats(samples.bare);
    const ratio = h.median / b.median;
    if (ratio > GOAL) missed.push(name);
    results[name] = {
      handler: { ...sizes(real), importMs: h, samples: samples.handler },
      bare: { ...sizes(bare), importMs: b, samples: samples.bare },
      ratio,
      goalMet: ratio <= GOAL,
    };
    const hs = sizes(real);
    const bs = sizes(bare);
    rows.push(
      [name, kib(hs.bytes), kib(hs.deflatedBytes), ms(h.min), ms(h.median), ms(h.max)],
      [`${name} (bare)`, kib(bs.bytes), kib(bs.deflatedBytes), ms(b.min), ms(b.median), ms(b.max)],
      [
        `${name} ratio`,
        '',
        '',
        '',
        `${ratio.toFixed(2)}x`,
        ratio <= GOAL ? `≤ ${GOAL}x: met` : `> ${GOAL}x: NOT met`,
      ],
    );
  }
  const header = ['bundle', 'index.js', 'deflated', 'min ms', 'median ms', 'max ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  process.stdout.write(
    `cold import in a fresh Node ${process.versions.node} process, ${RUNS} samples each, ${SOURCE_MAPS ? 'NODE_OPTIONS=--enable-source-maps (as deployed)' : 'without source maps'}\n` +
      `${line(header)}\n${rows.map(line).join('\n')}\n`,
  );
  mkdirSync(join(PROJECT_ROOT, '.bench'), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify({ node: process.versions.node, runs: RUNS, sourceMaps: SOURCE_MAPS, goal: GOAL, results }, null, 2)}\n`,
  );
  process.stderr.write(`raw samples in ${OUT}\n`);
  rmSync(work, { recursive: true, force: true });
  if (missed.length > 0) {
    process.stderr.write(
      `cold start goal (<= ${GOAL}x the bare handler) missed by: ${missed.join(', ')}\n`,
    );
    process.exitCode = 1;
  }
}

await main();
