import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { configOf } from '../../cdk/app.ts';
import { PROJECT_ROOT } from '../../cdk/bundling.ts';

const CDK_CLI = createRequire(import.meta.url).resolve('aws-cdk/bin/cdk');

describe('the CDK app', () => {
  it('refuses a bad configuration at synth, naming every bad field, value and rule', () => {
    const app = new App({
      context: { housekeeper: { housekeeping_interval: 90, maximum_deploying_amphora_count: 0 } },
    });
    expect(() => configOf(app)).toThrow(
      'invalid configuration (2 problems):\n' +
        '  - housekeeping_interval = 90: must be a multiple of 60 seconds: an EventBridge rate counts whole minutes\n' +
        '  - maximum_deploying_amphora_count = 0: must be at least 1',
    );
  });

  it('accepts the configuration as a JSON string from `-c housekeeper=...`', () => {
    const app = new App({ context: { housekeeper: '{"spare_amphora_pool_size": 3}' } });
    expect(configOf(app).pools[0]!.spare_amphora_pool_size).toBe(3);
  });

  it('makes `cdk synth` fail with the message and write no template when a value is bad', () => {
    // Prepare
    const outdir = mkdtempSync(join(tmpdir(), 'housekeeper-refused-'));

    // Act
    const synth = spawnSync(
      process.execPath,
      [
        CDK_CLI,
        'synth',
        '--quiet',
        '--output',
        outdir,
        '-c',
        'housekeeper={"executor_batch_size": 20}',
        '-c',
        'housekeeper_stack={"log_level": "TRACE"}',
      ],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: { ...process.env, CDK_DISABLE_VERSION_CHECK: '1', NO_COLOR: '1' },
      },
    );

    // Assess
    expect(synth.status).not.toBe(0);
    expect(synth.stderr).toContain(
      'cdk synth refused: invalid configuration (2 problems):\n' +
        '  - executor_batch_window = 0: must be at least 1 when executor_batch_size (20) is over 10: an SQS event source needs a batching window for that\n' +
        '  - housekeeper_stack.log_level = "TRACE": must be one of DEBUG, INFO, WARN, ERROR\n',
    );
    const written = existsSync(outdir) ? readdirSync(outdir) : [];
    rmSync(outdir, { recursive: true, force: true });
    expect(written.filter((f) => f.endsWith('.template.json'))).toStrictEqual([]);
  });
});
