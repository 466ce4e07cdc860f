/**
 * The deployment configuration as synth reads it: the runtime schema and the stack options, from
 * the context or the file it names, every problem named by field, value and rule at once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONTEXT_KEYS,
  type DeploymentConfig,
  defaultSparesBelowTargetCycles,
  deploymentConfig,
} from '../../cdk/stack-config.ts';
import { ConfigError, parseConfig } from '../../lib/config/schema.ts';

function read(context: Record<string, unknown>, baseDir = tmpdir()): DeploymentConfig {
  return deploymentConfig((key) => context[key], baseDir);
}

function problems(context: Record<string, unknown>, baseDir?: string): string[] {
  try {
    read(context, baseDir);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n').slice(1);
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('the deployment configuration', () => {
  it('defaults to the schema defaults and the default stack options', () => {
    const d = read({});
    expect(d.config).toStrictEqual(parseConfig({}));
    expect(d.stack).toStrictEqual({
      stack_name: 'AmphoraHousekeeper',
      log_retention_days: 30,
      log_level: 'INFO',
      runbook_url: 'docs/runbook.md',
      spares_below_target_cycles: defaultSparesBelowTargetCycles(parseConfig({})),
    });
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'a runtime value and a stack option, at once',
      {
        housekeeper: { housekeeping_interval: 90 },
        housekeeper_stack: { log_retention_days: 31 },
      },
      [
        '  - housekeeping_interval = 90: must be a multiple of 60 seconds: an EventBridge rate counts whole minutes',
        "  - housekeeper_stack.log_retention_days = 31: must be one of CloudWatch Logs' retention periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
      ],
    ],
    [
      'an unknown stack option',
      { housekeeper_stack: { alarm_email: 'ops@example.com' } },
      ['  - housekeeper_stack.alarm_email = "ops@example.com": is not a known stack option'],
    ],
    [
      'a subnet that is not a subnet id',
      { housekeeper_stack: { vpc: { vpc_id: 'vpc-0123456789abcdef0', subnet_ids: ['net-1'] } } },
      ['  - housekeeper_stack.vpc.subnet_ids[0] = "net-1": must be a subnet id (subnet-…)'],
    ],
    [
      'a secret with the noop driver',
      { housekeeper_stack: { credentials_secret: { name: 'x' } } },
      [
        '  - housekeeper_stack.credentials_secret = {"name":"x"}: must not be set when driver is noop: only the openstack driver reads credentials',
      ],
    ],
    [
      'a secret named two ways',
      {
        housekeeper: {
          driver: 'openstack',
          openstack: { image_id: 'i', flavor_id: 'f', network_ids: ['n'] },
        },
        housekeeper_stack: {
          credentials_secret: {
            name: 'x',
            arn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf',
          },
        },
      },
      [
        '  - housekeeper_stack.credentials_secret = {"arn":"arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf","name"...: must name the secret by exactly one of arn and name',
      ],
    ],
    [
      'an alarm window CloudWatch refuses',
      { housekeeper_stack: { spares_below_target_cycles: 1441 } },
      [
        "  - housekeeper_stack.spares_below_target_cycles = 1441: times housekeeping_interval (60 s) must be at most 86400 s, CloudWatch's longest alarm window for that period",
      ],
    ],
    [
      'a permissions boundary that is not a policy ARN',
      { housekeeper_stack: { permissions_boundary_arn: 'boundary' } },
      [
        '  - housekeeper_stack.permissions_boundary_arn = "boundary": must be the ARN of an IAM managed policy (arn:aws:iam::ACCOUNT:policy/NAME)',
      ],
    ],
    [
      'a configuration too big for the functions’ environment',
      { housekeeper: { openstack: { user_data: 'x'.repeat(4_000) } } },
      [
        expect.stringMatching(
          /^ {2}- housekeeper = "\(\d+ bytes as JSON\)": must be at most 3072 bytes as JSON: it travels in the functions' environment, which Lambda limits to 4096 bytes/,
        ) as unknown as string,
      ],
    ],
    [
      'context JSON that does not parse',
      { housekeeper_stack: '{"stack_name": ' },
      [
        expect.stringContaining(
          '  - housekeeper_stack = "{\\"stack_name\\": ": must be a JSON object (',
        ) as unknown as string,
      ],
    ],
  ])('refuses %s, naming field, value and rule', (_, context, expected) => {
    expect(problems(context)).toStrictEqual(expected);
  });

  it('reads both parts from the file the context names, relative to the app', () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'housekeeper-config-'));
    writeFileSync(
      join(dir, 'prod.json'),
      JSON.stringify({
        housekeeper: { spare_amphora_pool_size: 8 },
        housekeeper_stack: { stack_name: 'Prod' },
      }),
    );

    // Act
    const d = read({ [CONTEXT_KEYS.file]: 'prod.json' }, dir);

    // Assess
    expect(d.config.pools[0]!.spare_amphora_pool_size).toBe(8);
    expect(d.stack.stack_name).toBe('Prod');
  });

  it('refuses a file together with inline values, and a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'housekeeper-config-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ housekeeper: {}, extra: 1 }));
    expect(problems({ housekeeper_file: 'a.json', housekeeper: {} }, dir)).toStrictEqual([
      '  - housekeeper = {}: must not be set in the context when housekeeper_file (a.json) is: the file holds it',
      '  - a.json: extra = 1: is not a known key (the file holds "housekeeper" and "housekeeper_stack")',
    ]);
    expect(problems({ housekeeper_file: 'missing.json' }, dir)).toStrictEqual([
      expect.stringMatching(
        /^ {2}- housekeeper_file = "missing.json": must name a readable JSON file \(ENOENT/,
      ),
    ]);
  });

  it.each([
    // [interval, boot timeout, default cycles]
    [60, 600, 12],
    [300, 600, 4],
    [60, 86_400, 1_440],
    [3_600, 600, 3],
  ])(
    'alarms on spares below target, by default, after the boot timeout in cycles plus two (interval %i s, boot %i s: %i)',
    (interval, boot, cycles) => {
      const config = parseConfig({ housekeeping_interval: interval, boot_timeout: boot });
      expect(defaultSparesBelowTargetCycles(config)).toBe(cycles);
    },
  );
});
