/**
 * Configuration from environment variables: `HOUSEKEEPER_CONFIG` JSON, per-option variables on
 * top, coercion of numbers, booleans and lists, and problems named by their variable.
 * The environment is always passed in; process.env is never touched.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configFromEnv, ENV, envNameOf, optionEnvNames } from '../../lib/config/env.ts';
import {
  ConfigError,
  type ConfigProblem,
  configSchema,
  parseConfig,
} from '../../lib/config/schema.ts';

type Env = Record<string, string | undefined>;

function refusal(env: Env, overrides?: Record<string, unknown>, source?: string): ConfigError {
  let outcome: unknown;
  try {
    outcome = configFromEnv(env, {
      ...(overrides ? { overrides } : {}),
      ...(source ? { overridesSource: source } : {}),
    });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused, got ${JSON.stringify(outcome)}`);
}

const DEFAULTS = parseConfig({});

describe('configFromEnv sources', () => {
  it('gives the defaults for an environment without housekeeper variables', () => {
    // Act
    const config = configFromEnv({ PATH: '/usr/bin', HOME: '/root', AWS_REGION: 'eu-west-1' });

    // Assess
    expect(config).toStrictEqual(DEFAULTS);
  });

  it('reads the whole configuration from HOUSEKEEPER_CONFIG', () => {
    // Prepare
    const json = {
      spare_amphora_pool_size: 4,
      availability_zones: ['az1', 'az2'],
      driver: 'openstack',
      openstack: { image_tag: 'amphora', flavor_id: 'f1', network_ids: ['n1'] },
    };

    // Act
    const config = configFromEnv({ [ENV.config]: JSON.stringify(json) });

    // Assess
    expect(config).toStrictEqual(parseConfig(json));
    expect(config.pools[0]!.spare_amphora_pool_size).toBe(4);
  });

  it.each(['', '   ', '\n'])('ignores a blank HOUSEKEEPER_CONFIG (%j)', (blank) => {
    expect(configFromEnv({ [ENV.config]: blank })).toStrictEqual(DEFAULTS);
  });

  it('lets a per-option variable override the JSON value', () => {
    // Prepare
    const env = {
      [ENV.config]: JSON.stringify({
        spare_amphora_pool_size: 3,
        maximum_deploying_amphora_count: 4,
      }),
      HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: '5',
    };

    // Act
    const config = configFromEnv(env);

    // Assess
    expect(config.pools[0]!.spare_amphora_pool_size).toBe(5);
    expect(config.maximum_deploying_amphora_count).toBe(4);
  });

  it('overrides one nested option and keeps the rest of its JSON section', () => {
    // Prepare
    const env = {
      [ENV.config]: JSON.stringify({
        driver: 'openstack',
        openstack: { image_id: 'img', flavor_id: 'small', network_ids: ['n1'] },
      }),
      HOUSEKEEPER_OPENSTACK_FLAVOR_ID: 'large',
    };

    // Act
    const config = configFromEnv(env);

    // Assess
    expect(config.pools[0]!.launch).toMatchObject({
      image_id: 'img',
      flavor_id: 'large',
      network_ids: ['n1'],
    });
  });

  it('HOUSEKEEPER_CONFIG does not beat --config: the variables over the JSON, the overrides (the --config file) over both, sections merged field by field, and the overrides left untouched', () => {
    // Prepare
    const overrides = { spare_amphora_pool_size: 5, noop: { boot_seconds: 9 } };
    const snapshot = structuredClone(overrides);
    const env = {
      [ENV.config]: JSON.stringify({
        spare_amphora_pool_size: 3,
        boot_timeout: 400,
        noop: { boot_seconds: 1, boot_failure_rate: 0.1 },
      }),
      HOUSEKEEPER_BOOT_TIMEOUT: '500',
      HOUSEKEEPER_NOOP_BOOT_FAILURE_RATE: '0.5',
    };

    // Act
    const config = configFromEnv(env, { overrides });

    // Assess
    expect(config.pools[0]!.spare_amphora_pool_size).toBe(5);
    expect(config.boot_timeout).toBe(500);
    expect(config.noop).toStrictEqual({ boot_seconds: 9, boot_failure_rate: 0.5 });
    expect(overrides).toStrictEqual(snapshot);
  });

  it('names the --config file as the source of a bad value it overrode', () => {
    const error = refusal(
      { HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: '3' },
      { spare_amphora_pool_size: -1 },
      'p.json',
    );
    expect(error.problems).toEqual([
      expect.objectContaining({ field: 'spare_amphora_pool_size', source: 'p.json', value: -1 }),
    ]);
  });

  it('ignores a variable whose value is undefined', () => {
    expect(configFromEnv({ HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: undefined })).toStrictEqual(
      DEFAULTS,
    );
  });
});

describe('configFromEnv coercion', () => {
  it.each<[string, string, (c: ReturnType<typeof configFromEnv>) => unknown, unknown]>([
    ['HOUSEKEEPER_HOUSEKEEPING_INTERVAL', '120', (c) => c.housekeeping_interval, 120],
    ['HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE', ' 12 ', (c) => c.pools[0]!.spare_amphora_pool_size, 12],
    ['HOUSEKEEPER_NOOP_BOOT_FAILURE_RATE', '0.25', (c) => c.noop.boot_failure_rate, 0.25],
    ['HOUSEKEEPER_NOOP_BOOT_SECONDS', '45', (c) => c.noop.boot_seconds, 45],
    ['HOUSEKEEPER_OPENSTACK_CONFIG_DRIVE', 'true', (c) => c.pools[0]!.launch.config_drive, true],
    ['HOUSEKEEPER_OPENSTACK_CONFIG_DRIVE', 'false', (c) => c.pools[0]!.launch.config_drive, false],
    [
      'HOUSEKEEPER_AVAILABILITY_ZONES',
      'az1,az2',
      (c) => c.pools[0]!.zones.map((z) => z.name),
      ['az1', 'az2'],
    ],
    [
      'HOUSEKEEPER_AVAILABILITY_ZONES',
      ' az1 , az2,, az3 ',
      (c) => c.pools[0]!.zones.map((z) => z.name),
      ['az1', 'az2', 'az3'],
    ],
    ['HOUSEKEEPER_AVAILABILITY_ZONES', '', (c) => c.pools[0]!.zones.map((z) => z.name), ['*']],
    [
      'HOUSEKEEPER_OPENSTACK_SECURITY_GROUP_IDS',
      'sg-1,sg-2',
      (c) => c.pools[0]!.launch.security_group_ids,
      ['sg-1', 'sg-2'],
    ],
    ['HOUSEKEEPER_OWNERSHIP_TAG', 'team-a', (c) => c.ownership_tag, 'team-a'],
    ['HOUSEKEEPER_PRESERVATION_SCHEME', 'cycle', (c) => c.preservation_scheme, 'cycle'],
    ['HOUSEKEEPER_OPENSTACK_INTERFACE', 'internal', (c) => c.openstack.interface, 'internal'],
    ['HOUSEKEEPER_OPENSTACK_REGION_NAME', 'RegionOne', (c) => c.openstack.region_name, 'RegionOne'],
  ])('%s=%j sets the option', (name, text, read, expected) => {
    // Act
    const config = configFromEnv({ [name]: text });

    // Assess
    expect(read(config)).toStrictEqual(expected);
  });

  it('coerces any whole number of spares written in decimal', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (n) => {
        expect(
          configFromEnv({ HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: String(n) }).pools[0]!
            .spare_amphora_pool_size,
        ).toBe(n);
      }),
    );
  });
});

describe('configFromEnv names the variable a bad value came from', () => {
  it.each<[string, string, ConfigProblem]>([
    [
      'HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE',
      'ten',
      { field: 'spare_amphora_pool_size', value: 'ten', rule: 'must be a number' },
    ],
    [
      'HOUSEKEEPER_BOOT_TIMEOUT',
      '',
      { field: 'boot_timeout', value: '', rule: 'must be a number' },
    ],
    [
      'HOUSEKEEPER_BOOT_TIMEOUT',
      '10m',
      { field: 'boot_timeout', value: '10m', rule: 'must be a number' },
    ],
    [
      'HOUSEKEEPER_OPENSTACK_CONFIG_DRIVE',
      'yes',
      { field: 'openstack.config_drive', value: 'yes', rule: 'must be true or false' },
    ],
    [
      'HOUSEKEEPER_OPENSTACK_CONFIG_DRIVE',
      'TRUE',
      { field: 'openstack.config_drive', value: 'TRUE', rule: 'must be true or false' },
    ],
    [
      'HOUSEKEEPER_NOOP_BOOT_FAILURE_RATE',
      '2',
      { field: 'noop.boot_failure_rate', value: 2, rule: 'must be between 0 and 1' },
    ],
    [
      'HOUSEKEEPER_HOUSEKEEPING_INTERVAL',
      '90',
      {
        field: 'housekeeping_interval',
        value: 90,
        rule: 'must be a multiple of 60 seconds: an EventBridge rate counts whole minutes',
      },
    ],
    [
      'HOUSEKEEPER_CREATE_BACKOFF_MAX',
      '30',
      {
        field: 'create_backoff_max',
        value: 30,
        rule: 'must be at least create_backoff_initial (60)',
      },
    ],
    [
      'HOUSEKEEPER_DRIVER',
      'vmware',
      { field: 'driver', value: 'vmware', rule: 'must be one of openstack, noop' },
    ],
  ])('%s=%j', (name, text, problem) => {
    // Act
    const error = refusal({ [name]: text });

    // Assess
    expect(error.problems).toStrictEqual([{ ...problem, source: name }]);
    expect(error.message).toContain(
      `${problem.field} (from ${name}) = ${JSON.stringify(problem.value)}: ${problem.rule}`,
    );
  });

  it('does not name a variable for a value that came from HOUSEKEEPER_CONFIG', () => {
    // Act
    const error = refusal({ [ENV.config]: '{"spare_amphora_pool_size":"ten"}' });

    // Assess
    expect(error.problems).toStrictEqual([
      { field: 'spare_amphora_pool_size', value: 'ten', rule: 'must be a number' },
    ]);
  });
});

describe('configFromEnv refuses what it cannot read', () => {
  it('reports malformed HOUSEKEEPER_CONFIG JSON', () => {
    // Act
    const error = refusal({ [ENV.config]: '{"spare_amphora_pool_size": 3' });

    // Assess
    expect(error.problems).toStrictEqual([
      { field: ENV.config, value: '{"spare_amphora_pool_size": 3', rule: 'must be valid JSON' },
    ]);
    expect(error.message).toContain(
      'HOUSEKEEPER_CONFIG = "{\\"spare_amphora_pool_size\\": 3": must be valid JSON',
    );
  });

  it.each(['[1,2]', '42', '"text"', 'null', 'true'])(
    'reports a HOUSEKEEPER_CONFIG that is JSON but not an object: %s',
    (json) => {
      // Act
      const error = refusal({ [ENV.config]: json });

      // Assess
      expect(error.problems).toStrictEqual([
        { field: ENV.config, value: json, rule: 'must be a JSON object' },
      ]);
    },
  );

  it.each([
    'HOUSEKEEPER_SPARE_POOL_SIZE',
    'HOUSEKEEPER_OPENSTACK',
    'HOUSEKEEPER_OPENSTACK_PASSWORD',
    'HOUSEKEEPER_NOOP_BOOT_SECS',
    'HOUSEKEEPER_',
  ])('reports the unknown variable %s by name', (name) => {
    // Act
    const error = refusal({ [name]: '3' });

    // Assess
    expect(error.problems).toStrictEqual([
      { field: name, value: '3', rule: 'is not a known option variable' },
    ]);
    expect(error.message).toContain(`${name} = "3": is not a known option variable`);
  });

  it('reports problems from different variables in one error', () => {
    // Prepare
    const env = {
      [ENV.config]: '{oops',
      HOUSEKEEPER_FLAVOUR: 'm1.small',
      HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE: 'many',
      HOUSEKEEPER_NOOP_BOOT_FAILURE_RATE: '-1',
    };

    // Act
    const error = refusal(env);

    // Assess
    expect(error.problems).toHaveLength(4);
    expect(error.problems).toEqual(
      expect.arrayContaining([
        { field: ENV.config, value: '{oops', rule: 'must be valid JSON' },
        { field: 'HOUSEKEEPER_FLAVOUR', value: 'm1.small', rule: 'is not a known option variable' },
        {
          field: 'spare_amphora_pool_size',
          value: 'many',
          rule: 'must be a number',
          source: 'HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE',
        },
        {
          field: 'noop.boot_failure_rate',
          value: -1,
          rule: 'must be between 0 and 1',
          source: 'HOUSEKEEPER_NOOP_BOOT_FAILURE_RATE',
        },
      ]),
    );
    expect(error.message.startsWith('invalid configuration (4 problems):')).toBe(true);
  });
});

describe('resource variables are not options', () => {
  const resources = Object.entries(ENV).filter(([key]) => key !== 'config');

  it.each(resources)('ignores %s (%s) when reading options', (_, name) => {
    // Act
    const config = configFromEnv({ [name]: 'arn:aws:whatever:1' });

    // Assess
    expect(config).toStrictEqual(DEFAULTS);
  });

  it('no option variable shares a name with a resource variable', () => {
    // Prepare
    const resourceNames = new Set<string>(Object.values(ENV));

    // Act
    const clashes = optionEnvNames().filter((o) => resourceNames.has(o.env));

    // Assess
    expect(clashes).toStrictEqual([]);
  });
});

describe('envNameOf and optionEnvNames', () => {
  it.each([
    ['housekeeping_interval', 'HOUSEKEEPER_HOUSEKEEPING_INTERVAL'],
    ['spare_amphora_pool_size', 'HOUSEKEEPER_SPARE_AMPHORA_POOL_SIZE'],
    ['openstack.flavor_id', 'HOUSEKEEPER_OPENSTACK_FLAVOR_ID'],
    ['noop.boot_seconds', 'HOUSEKEEPER_NOOP_BOOT_SECONDS'],
  ])('%s is set by %s', (field, env) => {
    expect(envNameOf(field)).toBe(env);
  });

  it('lists every option of the schema, nested ones by their dotted name', () => {
    // Prepare
    const expected: string[] = [];
    for (const [key, schema] of Object.entries(configSchema().shape)) {
      // Pools are lists of objects: JSON only, no variable of their own.
      if (key === 'pools') continue;
      if (key === 'openstack' || key === 'noop') {
        const inner = (schema as ReturnType<typeof configSchema>['shape']['openstack']).unwrap();
        expected.push(...Object.keys(inner.shape).map((sub) => `${key}.${sub}`));
      } else {
        expected.push(key);
      }
    }

    // Act
    const fields = optionEnvNames().map((o) => o.field);

    // Assess
    expect([...fields].sort()).toStrictEqual([...expected].sort());
    expect(fields).toContain('openstack.network_ids');
    expect(fields).toContain('noop.boot_failure_rate');
    expect(fields).not.toContain('openstack');
    expect(fields).not.toContain('pools');
  });

  it('gives each option its own variable, named by envNameOf', () => {
    // Act
    const options = optionEnvNames();

    // Assess
    expect(options.every((o) => o.env === envNameOf(o.field))).toBe(true);
    expect(new Set(options.map((o) => o.env)).size).toBe(options.length);
  });

  it('recognises every listed variable', () => {
    for (const { env } of optionEnvNames()) {
      // Act
      let problems: readonly ConfigProblem[] = [];
      try {
        configFromEnv({ [env]: '%' });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        problems = error.problems;
      }

      // Assess
      expect(
        problems.filter((p) => p.field === env),
        env,
      ).toStrictEqual([]);
    }
  });
});

describe('sources of list elements', () => {
  it('names the variable a bad zone came from', () => {
    let error: unknown;
    try {
      configFromEnv({ HOUSEKEEPER_AVAILABILITY_ZONES: 'az1,a*z' });
    } catch (e) {
      error = e;
    }
    expect((error as ConfigError).problems).toEqual([
      {
        field: 'availability_zones[1]',
        value: 'a*z',
        rule: 'must not contain ":" or "*"',
        source: 'HOUSEKEEPER_AVAILABILITY_ZONES',
      },
    ]);
  });
});
