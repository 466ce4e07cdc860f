/**
 * The deployed functions' configuration: trusted while its checksum matches what the stack
 * validated at synth, validated in full otherwise. The trusted reading must give exactly what
 * validation gives, and anything not proven validated (no checksum, a value edited since, a
 * per-option override) must be refused with the same messages as ever.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configChecksum } from '../../lib/config/deployment.ts';
import { configFromEnv, deployedConfigFromEnv, ENV } from '../../lib/config/env.ts';
import {
  ConfigError,
  configToRaw,
  type HousekeeperConfig,
  parseConfig,
  trustedConfig,
} from '../../lib/config/schema.ts';

type Env = Record<string, string | undefined>;

/** The environment the stack gives a function for `config`: the JSON and its checksum. */
function deployed(config: HousekeeperConfig): Env {
  const json = JSON.stringify(configToRaw(config));
  return { [ENV.config]: json, [ENV.configChecksum]: configChecksum(json) };
}

const OPENSTACK = {
  driver: 'openstack',
  openstack: {
    image_tag: 'amphora',
    flavor_id: 'f1',
    network_ids: ['n1'],
    interface: 'internal',
    region_name: 'RegionTwo',
    request_timeout: 45,
  },
};

const CONFIGS: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
  ['the defaults', {}],
  [
    'a noop pool with simulated boots',
    { spare_amphora_pool_size: 3, noop: { boot_seconds: 40, boot_failure_rate: 0.25 } },
  ],
  [
    'openstack with zones of their own compute zone and networks',
    {
      ...OPENSTACK,
      spare_amphora_pool_size: 4,
      availability_zones: ['az1', { name: 'az2', compute_zone: 'nova-2', network_ids: ['n2'] }],
      ownership_tag: 'octavia-spares',
      orphan_sweep_interval: 1_200,
      openstack: { ...OPENSTACK.openstack, key_name: 'k', config_drive: true, user_data: 'IyE=' },
    },
  ],
  [
    'several pools, with their own sizes, zones, caps and launch fields',
    {
      ...OPENSTACK,
      maximum_deploying_amphora_count: 6,
      maximum_preserved_amphora_count: 2,
      preservation_scheme: 'cycle',
      pools: [
        { name: 'small', spare_amphora_pool_size: 2 },
        {
          name: 'large',
          spare_amphora_pool_size: 5,
          availability_zones: ['az1', 'az3'],
          maximum_deploying_amphora_count: 3,
          maximum_preserved_amphora_count: 1,
          rotation_budget: 2,
          openstack: { image_id: 'img-large', flavor_id: 'f-large', security_group_ids: ['sg'] },
        },
      ],
    },
  ],
];

describe('trustedConfig', () => {
  it.each(CONFIGS)(
    'reads %s, as configToRaw wrote it, exactly as parseConfig does',
    (_name, input) => {
      // Prepare
      const raw = JSON.parse(JSON.stringify(configToRaw(parseConfig(input))));

      // Act
      const trusted = trustedConfig(raw);

      // Assess
      expect(trusted).toStrictEqual(parseConfig(raw));
      expect(trusted).toStrictEqual(parseConfig(input));
    },
  );

  it('property: reads every written pool configuration exactly as parseConfig does', () => {
    const zone = fc.oneof(
      fc.constantFrom('az1', 'az2', 'az3'),
      fc.record(
        {
          name: fc.constantFrom('az4', 'az5'),
          compute_zone: fc.constant('nova'),
          network_ids: fc.constant(['nz']),
        },
        { requiredKeys: ['name'] },
      ),
    );
    const pool = (name: string) =>
      fc.record(
        {
          name: fc.constant(name),
          spare_amphora_pool_size: fc.integer({ min: 0, max: 50 }),
          availability_zones: fc.uniqueArray(zone, {
            maxLength: 3,
            selector: (z) => (typeof z === 'string' ? z : z.name),
          }),
          maximum_deploying_amphora_count: fc.integer({ min: 1, max: 4 }),
          maximum_preserved_amphora_count: fc.integer({ min: 0, max: 2 }),
          rotation_budget: fc.integer({ min: 1, max: 5 }),
          openstack: fc.record(
            {
              image_id: fc.constant('img-own'),
              flavor_id: fc.constant('f-own'),
              config_drive: fc.boolean(),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: ['name'] },
      );
    const input = fc.record(
      {
        driver: fc.constantFrom('noop', 'openstack'),
        spare_amphora_pool_size: fc.integer({ min: 0, max: 50 }),
        maximum_deploying_amphora_count: fc.integer({ min: 4, max: 10 }),
        maximum_preserved_amphora_count: fc.integer({ min: 2, max: 5 }),
        pools: fc.tuple(pool('a'), pool('b')).map((ps) => [...ps]),
      },
      {
        requiredKeys: [
          'driver',
          'pools',
          'maximum_deploying_amphora_count',
          'maximum_preserved_amphora_count',
        ],
      },
    );
    fc.assert(
      fc.property(input, (given) => {
        const config = parseConfig({ ...given, openstack: OPENSTACK.openstack });
        const raw = JSON.parse(JSON.stringify(configToRaw(config)));
        expect(trustedConfig(raw)).toStrictEqual(config);
      }),
    );
  });
});

describe('deployedConfigFromEnv', () => {
  it.each(CONFIGS)('trusts %s while its checksum matches', (_name, input) => {
    // Prepare
    const config = parseConfig(input);

    // Act
    const read = deployedConfigFromEnv({ ...deployed(config), AWS_REGION: 'eu-west-1' });

    // Assess
    expect(read).toStrictEqual(config);
  });

  it('takes a matching checksum as the proof of validation: the value is not validated again', () => {
    // Prepare: a value the schema refuses, with the checksum only the stack would have set
    const raw = { ...configToRaw(parseConfig({})), executor_batch_size: 500 };
    const json = JSON.stringify(raw);

    // Act
    const read = deployedConfigFromEnv({
      [ENV.config]: json,
      [ENV.configChecksum]: configChecksum(json),
    });

    // Assess
    expect(read.executor_batch_size).toBe(500);
  });

  const bad = JSON.stringify({
    ...configToRaw(parseConfig({})),
    housekeeping_interval: 30,
    preservation_scheme: 'lru',
  });
  const valid = JSON.stringify(configToRaw(parseConfig({})));
  const BOTH_PROBLEMS =
    'invalid configuration (2 problems):\n' +
    '  - housekeeping_interval = 30: must be at least 60 seconds\n' +
    '  - preservation_scheme = "lru": must be one of keep, cycle';

  it.each<readonly [string, Env, string]>([
    ['without a checksum', { [ENV.config]: bad }, BOTH_PROBLEMS],
    [
      'edited after synth (the checksum is of the value validated then)',
      { [ENV.config]: bad, [ENV.configChecksum]: configChecksum(valid) },
      BOTH_PROBLEMS,
    ],
    [
      'with a checksum that is not one',
      { [ENV.config]: bad, [ENV.configChecksum]: 'not-a-checksum' },
      BOTH_PROBLEMS,
    ],
    [
      'checksum matching, but a per-option variable overriding a field',
      {
        [ENV.config]: valid,
        [ENV.configChecksum]: configChecksum(valid),
        HOUSEKEEPER_EXECUTOR_BATCH_SIZE: '0',
      },
      'invalid configuration (1 problem):\n' +
        '  - executor_batch_size (from HOUSEKEEPER_EXECUTOR_BATCH_SIZE) = 0: must be at least 1',
    ],
    [
      'checksum matching, but an unknown per-option variable set',
      {
        [ENV.config]: valid,
        [ENV.configChecksum]: configChecksum(valid),
        HOUSEKEEPER_SPARES: '3',
      },
      'invalid configuration (1 problem):\n' +
        '  - HOUSEKEEPER_SPARES = "3": is not a known option variable',
    ],
  ])('validates a configuration %s in full, with the usual message', (_name, env, message) => {
    // Act
    const read = () => deployedConfigFromEnv(env);

    // Assess
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
    expect(read).toThrow(
      (() => {
        try {
          configFromEnv(env);
        } catch (error) {
          return (error as Error).message;
        }
        throw new Error('configFromEnv accepted it');
      })(),
    );
  });

  it('validates a hand-written configuration in full even when its checksum matches', () => {
    // Prepare: not written by configToRaw (no explicit pools), checksum computed by hand
    const json = JSON.stringify({ spare_amphora_pool_size: 3, rotation_budget: 0 });

    // Act
    const read = () =>
      deployedConfigFromEnv({ [ENV.config]: json, [ENV.configChecksum]: configChecksum(json) });

    // Assess
    expect(read).toThrow(
      'invalid configuration (1 problem):\n  - rotation_budget = 0: must be at least 1',
    );
  });

  it('applies a per-option override over a deployed configuration, validated', () => {
    // Prepare
    const env = { ...deployed(parseConfig({})), HOUSEKEEPER_EXECUTOR_BATCH_SIZE: '7' };

    // Act
    const read = deployedConfigFromEnv(env);

    // Assess
    expect(read.executor_batch_size).toBe(7);
    expect(read).toStrictEqual(configFromEnv(env));
  });
});
