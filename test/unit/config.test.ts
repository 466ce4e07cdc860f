/**
 * The configuration schema (SPEC §2): defaults, one message per bad value naming the field, the
 * value and the rule, every problem at once, and the cross-field rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  type ConfigProblem,
  configToRaw,
  formatProblem,
  type HousekeeperConfig,
  parseConfig,
} from '../../lib/config/schema.ts';
import { ANY_ZONE } from '../../lib/domain/amphora.ts';
import { HousekeeperError } from '../../lib/domain/errors.ts';

const DAY = 86_400;

const DEFAULTS: HousekeeperConfig = {
  housekeeping_interval: 60,
  deployment_name: 'amphora-housekeeper',
  ownership_tag: 'amphora-housekeeper',
  pools: [
    {
      name: 'default',
      spare_amphora_pool_size: 0,
      zones: [{ name: ANY_ZONE }],
      launch: { network_ids: [], security_group_ids: [], config_drive: false },
      rotation_budget: 1,
    },
  ],
  maximum_deploying_amphora_count: 2,
  maximum_preserved_amphora_count: 0,
  preservation_scheme: 'keep',
  preservation_method: 'unplug',
  driver: 'noop',
  image_refresh_interval: 300,
  boot_timeout: 600,
  amphora_expiry_age: 7 * DAY,
  create_backoff_initial: 60,
  create_backoff_max: 3_600,
  orphan_sweep_interval: 600,
  orphan_grace_period: 1_800,
  task_timeout: 900,
  task_max_attempts: 5,
  delete_max_attempts: 5,
  delete_backoff_initial: 30,
  delete_backoff_max: 900,
  preservation_timeout: 3_600,
  check_initial_delay: 15,
  check_max_delay: 120,
  planner_lease_ttl: 300,
  executor_timeout: 60,
  executor_batch_size: 10,
  executor_batch_window: 0,
  executor_max_concurrency: 5,
  openstack: { interface: 'public', request_timeout: 30 },
  noop: { boot_seconds: 0, boot_failure_rate: 0 },
};

/** A complete, valid openstack section. */
const OPENSTACK_OK = { image_id: 'img-1', flavor_id: 'flavor-1', network_ids: ['net-1'] };

/** Parses `input`, expecting a refusal; returns the ConfigError. */
function refusal(input: unknown): ConfigError {
  let outcome: unknown;
  try {
    outcome = parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(
    `expected ${JSON.stringify(input)} to be refused, got ${JSON.stringify(outcome)}`,
  );
}

/** `{ a: { b: value } }` from `'a.b'`. */
function withField(field: string, value: unknown): Record<string, unknown> {
  const [head, tail] = field.split('.') as [string, string | undefined];
  return tail === undefined ? { [head]: value } : { [head]: { [tail]: value } };
}

function line(p: Pick<ConfigProblem, 'field' | 'value' | 'rule'>): string {
  return `${p.field} = ${JSON.stringify(p.value)}: ${p.rule}`;
}

describe('parseConfig defaults', () => {
  it.each([
    ['an empty object', {}],
    ['undefined', undefined],
    ['null', null],
  ])('fills in every default for %s', (_, input) => {
    // Act
    const config = parseConfig(input);

    // Assess
    expect(config).toStrictEqual(DEFAULTS);
  });

  it('keeps every explicitly given valid value, a single-pool file being the pool `default`', () => {
    // Prepare
    const input = {
      housekeeping_interval: 300,
      spare_amphora_pool_size: 7,
      preservation_scheme: 'cycle',
      preservation_method: 'snapshot',
      availability_zones: ['az1', 'az2'],
      orphan_sweep_interval: 900,
      openstack: { image_tag: 'amphora', flavor_id: 'f-1', network_ids: ['n-1'], cloud: 'prod' },
      noop: { boot_seconds: 45, boot_failure_rate: 0.5 },
    };

    // Act
    const config = parseConfig(input);

    // Assess
    expect(config).toStrictEqual({
      ...DEFAULTS,
      housekeeping_interval: 300,
      preservation_scheme: 'cycle',
      preservation_method: 'snapshot',
      orphan_sweep_interval: 900,
      pools: [
        {
          name: 'default',
          spare_amphora_pool_size: 7,
          zones: [{ name: 'az1' }, { name: 'az2' }],
          launch: {
            image_tag: 'amphora',
            flavor_id: 'f-1',
            network_ids: ['n-1'],
            security_group_ids: [],
            config_drive: false,
          },
          rotation_budget: 1,
        },
      ],
      openstack: { interface: 'public', request_timeout: 30, cloud: 'prod' },
      noop: { boot_seconds: 45, boot_failure_rate: 0.5 },
    });
  });
});

describe('parseConfig refuses a bad value, naming the field, the value and the rule', () => {
  const whole = 'must be a whole number';
  const aNumber = 'must be a number';
  it.each<[string, unknown, string]>([
    ['housekeeping_interval', '60', aNumber],
    ['housekeeping_interval', true, aNumber],
    ['housekeeping_interval', 2 * DAY, 'must be at most 86400 seconds'],
    ['spare_amphora_pool_size', -1, 'must be at least 0'],
    ['spare_amphora_pool_size', 10_001, 'must be at most 10000'],
    ['spare_amphora_pool_size', 1.5, whole],
    ['spare_amphora_pool_size', '3', aNumber],
    ['maximum_deploying_amphora_count', 0, 'must be at least 1'],
    ['maximum_preserved_amphora_count', -1, 'must be at least 0'],
    ['preservation_scheme', 'fifo', 'must be one of keep, cycle'],
    ['preservation_method', 'copy', 'must be one of unplug, snapshot'],
    ['driver', 'aws', 'must be one of openstack, noop'],
    [
      'availability_zones',
      'az1',
      'must be a list of zone names or { name, compute_zone, network_ids } objects',
    ],
    ['boot_timeout', 29, 'must be at least 30 seconds'],
    ['boot_timeout', DAY + 1, 'must be at most 86400 seconds'],
    ['amphora_expiry_age', -1, 'must be at least 0 seconds'],
    ['amphora_expiry_age', 365 * DAY + 1, 'must be at most 31536000 seconds'],
    ['create_backoff_initial', 0, 'must be at least 1 second'],
    ['create_backoff_max', 7 * DAY + 1, 'must be at most 604800 seconds'],
    ['orphan_sweep_interval', 59, 'must be at least 60 seconds'],
    ['orphan_grace_period', 59, 'must be at least 60 seconds'],
    ['task_timeout', 59, 'must be at least 60 seconds'],
    ['task_max_attempts', 0, 'must be at least 1'],
    ['task_max_attempts', 101, 'must be at most 100'],
    ['delete_max_attempts', 0, 'must be at least 1'],
    ['delete_backoff_initial', 0, 'must be at least 1 second'],
    ['delete_backoff_max', 901, 'must be at most 900 seconds'],
    ['preservation_timeout', 59, 'must be at least 60 seconds'],
    ['preservation_timeout', 7 * DAY + 1, 'must be at most 604800 seconds'],
    ['check_initial_delay', -1, 'must be at least 0 seconds'],
    ['check_initial_delay', 901, 'must be at most 900 seconds'],
    ['check_max_delay', 0, 'must be at least 1 second'],
    ['check_max_delay', 901, 'must be at most 900 seconds'],
    ['planner_lease_ttl', 29, 'must be at least 30 seconds'],
    ['planner_lease_ttl', 3_601, 'must be at most 3600 seconds'],
    ['executor_timeout', 9, 'must be at least 10 seconds'],
    ['executor_timeout', 901, 'must be at most 900 seconds'],
    ['executor_batch_size', 0, 'must be at least 1'],
    ['executor_batch_size', 101, 'must be at most 100'],
    ['executor_batch_window', 301, 'must be at most 300 seconds'],
    ['executor_max_concurrency', 1, 'must be at least 2'],
    ['ownership_tag', 42, 'must be a string'],
    ['openstack', 'cloud-a', 'must be an object'],
    ['openstack.interface', 'private', 'must be one of public, internal, admin'],
    ['openstack.network_ids', 'net-1', 'must be a list of network ids'],
    ['openstack.security_group_ids', 'sg-1', 'must be a list of security group ids'],
    ['openstack.config_drive', 'yes', 'must be true or false'],
    ['openstack.request_timeout', 0, 'must be at least 1 second'],
    ['openstack.request_timeout', 301, 'must be at most 300 seconds'],
    ['openstack.flavor_id', '', 'must not be empty'],
    ['openstack.image_id', 7, 'must be a string'],
    ['openstack.region_name', '', 'must not be empty'],
    ['noop', [], 'must be an object'],
    ['noop.boot_seconds', -1, 'must be at least 0 seconds'],
    ['noop.boot_seconds', 1.5, whole],
    ['noop.boot_failure_rate', 1.5, 'must be between 0 and 1'],
    ['noop.boot_failure_rate', -0.1, 'must be between 0 and 1'],
    ['noop.boot_failure_rate', 'half', aNumber],
  ])('%s = %j: %s', (field, value, rule) => {
    // Act
    const error = refusal(withField(field, value));

    // Assess
    expect(error.problems).toStrictEqual([{ field, value, rule }]);
    expect(error.message).toContain(line({ field, value, rule }));
  });

  it('names the list element that is bad', () => {
    // Act
    const error = refusal({ openstack: { network_ids: ['net-1', ''] } });

    // Assess
    expect(error.problems).toStrictEqual([
      { field: 'openstack.network_ids[1]', value: '', rule: 'must not be empty' },
    ]);
    expect(error.message).toContain('openstack.network_ids[1] = "": must not be empty');
  });

  it('names the length limit when openstack.user_data is too long', () => {
    // Prepare
    const userData = 'x'.repeat(65_536);

    // Act
    const [problem, ...others] = refusal({ openstack: { user_data: userData } }).problems;

    // Assess: the rule broken is the length, not the type
    expect(others).toEqual([]);
    expect(problem).toMatchObject({ field: 'openstack.user_data', value: userData });
    expect(problem!.rule).toMatch(/at most 65535/);
  });

  it.each([
    ['a non-object', 'housekeeping'],
    ['an array', []],
    ['a number', 60],
  ])('refuses %s as the whole configuration', (_, input) => {
    // Act
    const error = refusal(input);

    // Assess
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]!.value).toStrictEqual(input);
    expect(error.problems[0]!.rule).toMatch(/expected object/);
  });
});

describe('parseConfig reports every problem at once', () => {
  it('lists all bad fields, top-level and nested, not only the first', () => {
    // Prepare
    const input = {
      spare_amphora_pool_size: -3,
      driver: 'vmware',
      planner_lease_ttl: 5,
      openstack: { interface: 'private' },
      noop: { boot_failure_rate: 2 },
      colour: 'blue',
    };

    // Act
    const error = refusal(input);

    // Assess
    const expected: ConfigProblem[] = [
      { field: 'spare_amphora_pool_size', value: -3, rule: 'must be at least 0' },
      { field: 'driver', value: 'vmware', rule: 'must be one of openstack, noop' },
      { field: 'planner_lease_ttl', value: 5, rule: 'must be at least 30 seconds' },
      {
        field: 'openstack.interface',
        value: 'private',
        rule: 'must be one of public, internal, admin',
      },
      { field: 'noop.boot_failure_rate', value: 2, rule: 'must be between 0 and 1' },
      { field: 'colour', value: 'blue', rule: 'is not a known option' },
    ];
    expect(error.problems).toHaveLength(expected.length);
    expect(error.problems).toEqual(expect.arrayContaining(expected));
    expect(error.message.startsWith('invalid configuration (6 problems):\n')).toBe(true);
    for (const p of expected) expect(error.message).toContain(`  - ${line(p)}`);
  });

  it.each([
    [
      { task_timeout: 100, check_max_delay: 120, spare_amphora_pool_size: -1 },
      ['spare_amphora_pool_size', 'task_timeout'],
    ],
    [
      { create_backoff_initial: 600, create_backoff_max: 60, driver: 'x', colour: 'blue' },
      ['colour', 'create_backoff_max', 'driver'],
    ],
  ])('cross-field rules are not hidden while another problem exists: %j', (raw, fields) => {
    expect(
      refusal(raw)
        .problems.map((p) => p.field)
        .sort(),
    ).toEqual(fields);
  });

  it('reports several cross-field problems together', () => {
    // Act
    const error = refusal({
      create_backoff_initial: 600,
      create_backoff_max: 60,
      check_initial_delay: 300,
      check_max_delay: 200,
    });

    // Assess
    expect(error.problems).toStrictEqual([
      {
        field: 'create_backoff_max',
        value: 60,
        rule: 'must be at least create_backoff_initial (600)',
      },
      { field: 'check_max_delay', value: 200, rule: 'must be at least check_initial_delay (300)' },
    ]);
  });
});

describe('housekeeping_interval: whole minutes of at least one (one problem per field, the first rule broken)', () => {
  const multiple = 'must be a multiple of 60 seconds: an EventBridge rate counts whole minutes';
  const atLeast = 'must be at least 60 seconds';

  it.each<[number, string[]]>([
    [30, [atLeast]],
    [59, [atLeast]],
    [61, [multiple]],
    [90, [multiple]],
    [120.5, ['must be a whole number']],
    [0, [atLeast]],
    [-60, [atLeast]],
  ])('refuses %s seconds', (value, rules) => {
    // Act
    const error = refusal({ housekeeping_interval: value, orphan_sweep_interval: 3_600 });

    // Assess
    expect(error.problems).toStrictEqual(
      rules.map((rule) => ({ field: 'housekeeping_interval', value, rule })),
    );
  });

  it.each([60, 120, 3_600, DAY])('accepts %s seconds', (value) => {
    // Act
    const config = parseConfig({
      housekeeping_interval: value,
      orphan_sweep_interval: Math.max(600, value),
    });

    // Assess
    expect(config.housekeeping_interval).toBe(value);
  });
});

describe('unknown options', () => {
  it.each<[string, Record<string, unknown>, string, unknown]>([
    ['top level', { spare_pool_size: 3 }, 'spare_pool_size', 3],
    ['a seed option under another name', { amphora_expiry: 10 }, 'amphora_expiry', 10],
    ['openstack', { openstack: { password: 'hunter2x' } }, 'openstack.password', 'hunter2x'],
    ['noop', { noop: { boot_secs: 5 } }, 'noop.boot_secs', 5],
  ])('refuses an unknown option at %s by name', (_, input, field, value) => {
    // Act
    const error = refusal(input);

    // Assess
    expect(error.problems).toStrictEqual([{ field, value, rule: 'is not a known option' }]);
    expect(error.message).toContain(`${field} = ${JSON.stringify(value)}: is not a known option`);
  });

  it('names each unknown option separately', () => {
    // Act
    const error = refusal({ a: 1, b: 2 });

    // Assess
    expect(error.problems).toStrictEqual([
      { field: 'a', value: 1, rule: 'is not a known option' },
      { field: 'b', value: 2, rule: 'is not a known option' },
    ]);
  });
});

describe('cross-field rules', () => {
  it.each<[string, Record<string, unknown>, ConfigProblem]>([
    [
      'create_backoff_max below create_backoff_initial',
      { create_backoff_initial: 120, create_backoff_max: 119 },
      {
        field: 'create_backoff_max',
        value: 119,
        rule: 'must be at least create_backoff_initial (120)',
      },
    ],
    [
      'create_backoff_initial above the default create_backoff_max',
      { create_backoff_initial: 7_200 },
      {
        field: 'create_backoff_max',
        value: 3_600,
        rule: 'must be at least create_backoff_initial (7200)',
      },
    ],
    [
      'delete_backoff_max below delete_backoff_initial',
      { delete_backoff_initial: 120, delete_backoff_max: 60 },
      {
        field: 'delete_backoff_max',
        value: 60,
        rule: 'must be at least delete_backoff_initial (120)',
      },
    ],
    [
      'preservation_timeout not beyond check_max_delay',
      { preservation_timeout: 120, check_max_delay: 120 },
      {
        field: 'preservation_timeout',
        value: 120,
        rule: 'must exceed check_max_delay (120), or a snapshot times out between two polls',
      },
    ],
    [
      'check_max_delay below check_initial_delay',
      { check_initial_delay: 60, check_max_delay: 30 },
      { field: 'check_max_delay', value: 30, rule: 'must be at least check_initial_delay (60)' },
    ],
    [
      'task_timeout equal to check_max_delay',
      { task_timeout: 120, check_max_delay: 120 },
      {
        field: 'task_timeout',
        value: 120,
        rule: 'must exceed check_max_delay (120), or every slow boot looks stuck',
      },
    ],
    [
      'task_timeout below check_max_delay',
      { task_timeout: 60, check_max_delay: 600 },
      {
        field: 'task_timeout',
        value: 60,
        rule: 'must exceed check_max_delay (600), or every slow boot looks stuck',
      },
    ],
    [
      'orphan_sweep_interval below housekeeping_interval',
      { housekeeping_interval: 600, orphan_sweep_interval: 540 },
      {
        field: 'orphan_sweep_interval',
        value: 540,
        rule: 'must be at least housekeeping_interval (600): sweeps are issued by the planner',
      },
    ],
    [
      'executor_batch_size over 10 without a batching window',
      { executor_batch_size: 11 },
      {
        field: 'executor_batch_window',
        value: 0,
        rule: 'must be at least 1 when executor_batch_size (11) is over 10: an SQS event source needs a batching window for that',
      },
    ],
    [
      'driver openstack with neither image_id nor image_tag',
      { driver: 'openstack', openstack: { flavor_id: 'f', network_ids: ['n'] } },
      {
        field: 'openstack.image_id',
        value: undefined,
        rule: 'exactly one of openstack.image_id and openstack.image_tag must be set when driver is openstack',
      },
    ],
    [
      'driver openstack with both image_id and image_tag',
      {
        driver: 'openstack',
        openstack: { image_id: 'i', image_tag: 't', flavor_id: 'f', network_ids: ['n'] },
      },
      {
        field: 'openstack.image_id',
        value: 'i',
        rule: 'exactly one of openstack.image_id and openstack.image_tag must be set when driver is openstack',
      },
    ],
    [
      'driver openstack without flavor_id',
      { driver: 'openstack', openstack: { image_id: 'i', network_ids: ['n'] } },
      {
        field: 'openstack.flavor_id',
        value: undefined,
        rule: 'is required when driver is openstack',
      },
    ],
    [
      'driver openstack without a network',
      { driver: 'openstack', openstack: { image_tag: 'amphora', flavor_id: 'f' } },
      {
        field: 'openstack.network_ids',
        value: [],
        rule: 'must name at least one network when driver is openstack',
      },
    ],
  ])('refuses %s', (_, input, problem) => {
    // Act
    const error = refusal(input);

    // Assess
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toEqual(problem);
    const shown = problem.value === undefined ? '(missing)' : JSON.stringify(problem.value);
    expect(error.message).toContain(`${problem.field} = ${shown}: ${problem.rule}`);
  });

  it('reports every missing openstack setting at once', () => {
    // Act
    const error = refusal({ driver: 'openstack' });

    // Assess
    expect(error.problems.map((p) => p.field)).toStrictEqual([
      'openstack.image_id',
      'openstack.flavor_id',
      'openstack.network_ids',
    ]);
  });

  it.each<[string, Record<string, unknown>]>([
    [
      'create_backoff_max equal to create_backoff_initial',
      { create_backoff_initial: 120, create_backoff_max: 120 },
    ],
    [
      'check_max_delay equal to check_initial_delay',
      { check_initial_delay: 60, check_max_delay: 60 },
    ],
    ['task_timeout just above check_max_delay', { task_timeout: 121, check_max_delay: 120 }],
    [
      'orphan_sweep_interval equal to housekeeping_interval',
      { housekeeping_interval: 600, orphan_sweep_interval: 600 },
    ],
    [
      'driver openstack with image_id, flavor and network',
      { driver: 'openstack', openstack: OPENSTACK_OK },
    ],
    [
      'driver openstack with image_tag, flavor and network',
      {
        driver: 'openstack',
        openstack: { image_tag: 'amphora', flavor_id: 'f', network_ids: ['n'] },
      },
    ],
    ['driver noop without any openstack setting', { driver: 'noop' }],
  ])('accepts %s', (_, input) => {
    expect(() => parseConfig(input)).not.toThrow();
  });
});

describe('availability zone names', () => {
  const badZone = 'must not contain ":" or "*"';

  it.each<[string, unknown[], ConfigProblem[]]>([
    [
      'a zone named twice',
      ['az1', 'az2', 'az1'],
      [
        {
          field: 'availability_zones',
          value: ['az1', 'az2', 'az1'],
          rule: 'must not name a zone twice',
        },
      ],
    ],
    ['"*"', ['*'], [{ field: 'availability_zones[0]', value: '*', rule: badZone }]],
    [
      'a name with "*"',
      ['az1', 'az*'],
      [{ field: 'availability_zones[1]', value: 'az*', rule: badZone }],
    ],
    [
      'a name with ":"',
      ['nova:host1'],
      [{ field: 'availability_zones[0]', value: 'nova:host1', rule: badZone }],
    ],
    ['a number', [3], [{ field: 'availability_zones[0]', value: 3, rule: 'must be a string' }]],
    [
      'a name over 255 characters',
      ['z'.repeat(256)],
      [
        {
          field: 'availability_zones[0]',
          value: 'z'.repeat(256),
          rule: 'must be at most 255 characters',
        },
      ],
    ],
  ])('refuses %s', (_, zones, problems) => {
    // Act
    const error = refusal({ availability_zones: zones });

    // Assess
    expect(error.problems).toStrictEqual(problems);
  });

  it('accepts distinct plain names, in order', () => {
    // Act
    const config = parseConfig({ availability_zones: ['nova', 'az-2', 'eu west 1'] });

    // Assess
    expect(config.pools[0]!.zones).toStrictEqual([
      { name: 'nova' },
      { name: 'az-2' },
      { name: 'eu west 1' },
    ]);
  });
});

describe('ownership_tag: a Nova server tag that cannot pass for an amphora-id tag', () => {
  const chars = 'must not contain ",", "/" or ":" (a Nova tag; ":" marks amphora-id tags)';

  it.each<[string, string, string]>([
    ['a comma', 'team,a', chars],
    ['a slash', 'team/a', chars],
    ['a colon', 'amphora-id:x', chars],
    ['61 characters', 't'.repeat(61), 'must be at most 60 characters (a Nova tag)'],
  ])('refuses a tag with %s', (_, tag, rule) => {
    // Act
    const error = refusal({ ownership_tag: tag });

    // Assess
    expect(error.problems).toStrictEqual([{ field: 'ownership_tag', value: tag, rule }]);
    expect(error.message).toContain(line({ field: 'ownership_tag', value: tag, rule }));
  });

  it('refuses an empty tag', () => {
    // Act
    const error = refusal({ ownership_tag: '' });

    // Assess
    expect(error.problems).toContainEqual({
      field: 'ownership_tag',
      value: '',
      rule: 'must not be empty',
    });
    expect(error.problems.every((p) => p.field === 'ownership_tag')).toBe(true);
  });

  it.each(['t'.repeat(60), 'x', 'team-a.housekeeper_1', 'with space'])('accepts %j', (tag) => {
    // Act
    const config = parseConfig({ ownership_tag: tag });

    // Assess
    expect(config.ownership_tag).toBe(tag);
  });
});

describe('formatProblem and ConfigError', () => {
  it.each<[string, ConfigProblem, string]>([
    ['a number', { field: 'f', value: 3, rule: 'r' }, 'f = 3: r'],
    ['a string, quoted', { field: 'f', value: 'x', rule: 'r' }, 'f = "x": r'],
    ['a missing value', { field: 'a.b', value: undefined, rule: 'r' }, 'a.b = (missing): r'],
    [
      'the source of the value',
      { field: 'f', value: 'x', rule: 'r', source: 'HOUSEKEEPER_F' },
      'f (from HOUSEKEEPER_F) = "x": r',
    ],
    [
      'a long value, cut at 80 characters',
      { field: 'f', value: 'y'.repeat(200), rule: 'r' },
      `f = "${'y'.repeat(76)}...: r`,
    ],
  ])('shows %s', (_, problem, expected) => {
    // Act
    const text = formatProblem(problem);

    // Assess
    expect(text).toBe(expected);
  });

  it('is a HousekeeperError named ConfigError that lists one problem per line', () => {
    // Prepare
    const problems: ConfigProblem[] = [
      { field: 'a', value: 1, rule: 'r1' },
      { field: 'b', value: 'x', rule: 'r2', source: 'HOUSEKEEPER_B' },
    ];

    // Act
    const error = new ConfigError(problems);

    // Assess
    expect(error).toBeInstanceOf(HousekeeperError);
    expect(error.name).toBe('ConfigError');
    expect(error.problems).toBe(problems);
    expect(error.message).toBe(
      'invalid configuration (2 problems):\n  - a = 1: r1\n  - b (from HOUSEKEEPER_B) = "x": r2',
    );
  });

  it('says "1 problem" in the singular', () => {
    // Act
    const error = new ConfigError([{ field: 'a', value: 1, rule: 'r' }]);

    // Assess
    expect(error.message).toBe('invalid configuration (1 problem):\n  - a = 1: r');
  });
});

// -- property ---------------------------------------------------------------------------------

const tagChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_. '.split(''));
const zoneArb = fc.string({ unit: tagChar, minLength: 1, maxLength: 20 });
const idArb = fc.string({ unit: tagChar, minLength: 1, maxLength: 12 });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

/** Values that satisfy every field rule and every cross-field rule; any of them may be omitted. */
const validConfigArb = fc
  .record({
    simple: fc.record(
      {
        spare_amphora_pool_size: fc.integer({ min: 0, max: 10_000 }),
        maximum_deploying_amphora_count: fc.integer({ min: 1, max: 10_000 }),
        maximum_preserved_amphora_count: fc.integer({ min: 0, max: 10_000 }),
        preservation_scheme: fc.constantFrom('keep', 'cycle'),
        preservation_method: fc.constantFrom('unplug', 'snapshot'),
        availability_zones: fc.uniqueArray(zoneArb, { maxLength: 4 }),
        boot_timeout: fc.integer({ min: 30, max: DAY }),
        amphora_expiry_age: fc.integer({ min: 0, max: 365 * DAY }),
        orphan_grace_period: fc.integer({ min: 60, max: 7 * DAY }),
        task_max_attempts: fc.integer({ min: 1, max: 100 }),
        delete_max_attempts: fc.integer({ min: 1, max: 100 }),
        planner_lease_ttl: fc.integer({ min: 30, max: 3_600 }),
        ownership_tag: fc.string({ unit: tagChar, minLength: 1, maxLength: 60 }),
        noop: fc.record(
          {
            boot_seconds: fc.integer({ min: 0, max: DAY }),
            boot_failure_rate: fc.double({ min: 0, max: 1, noNaN: true, noDefaultInfinity: true }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
    schedule: opt(
      fc.record({ minutes: fc.integer({ min: 1, max: 1_440 }), extra: fc.nat(6 * DAY) }),
    ),
    backoff: opt(fc.record({ initial: fc.integer({ min: 1, max: DAY }), extra: fc.nat(6 * DAY) })),
    check: opt(
      fc.record({
        initial: fc.integer({ min: 0, max: 900 }),
        spread: fc.nat(900),
        timeoutExtra: fc.nat(DAY),
      }),
    ),
    openstack: opt(
      fc.record({
        image: fc.oneof(
          idArb.map((image_id) => ({ image_id })),
          idArb.map((image_tag) => ({ image_tag })),
        ),
        flavor_id: idArb,
        network_ids: fc.array(idArb, { minLength: 1, maxLength: 3 }),
        security_group_ids: fc.array(idArb, { maxLength: 3 }),
        interface: fc.constantFrom('public', 'internal', 'admin'),
        config_drive: fc.boolean(),
        request_timeout: fc.integer({ min: 1, max: 300 }),
      }),
    ),
  })
  .map(({ simple, schedule, backoff, check, openstack }) => {
    const config: Record<string, unknown> = { ...simple };
    if (schedule) {
      config.housekeeping_interval = schedule.minutes * 60;
      config.orphan_sweep_interval = schedule.minutes * 60 + schedule.extra;
    }
    if (backoff) {
      config.create_backoff_initial = backoff.initial;
      config.create_backoff_max = backoff.initial + backoff.extra;
    }
    if (check) {
      const max = Math.max(1, Math.min(900, check.initial + check.spread));
      config.check_initial_delay = check.initial;
      config.check_max_delay = max;
      config.task_timeout = Math.min(DAY, Math.max(60, max + 1) + check.timeoutExtra);
    }
    if (openstack) {
      const { image, ...rest } = openstack;
      config.driver = 'openstack';
      config.openstack = { ...image, ...rest };
    }
    return config;
  });

describe('property: valid configurations', () => {
  it('parse, keep every given value, and parse again to the same result', () => {
    fc.assert(
      fc.property(validConfigArb, (input) => {
        // Act
        const once = parseConfig(input);
        const twice = parseConfig(configToRaw(once));

        // Assess: written back and parsed again, it is the same configuration
        expect(twice).toStrictEqual(once);
        const { availability_zones, spare_amphora_pool_size, openstack, ...topLevel } =
          input as Record<string, unknown>;
        expect(once).toMatchObject(topLevel);
        const pool = once.pools[0]!;
        if (spare_amphora_pool_size !== undefined) {
          expect(pool.spare_amphora_pool_size).toBe(spare_amphora_pool_size);
        }
        if (Array.isArray(availability_zones) && availability_zones.length > 0) {
          expect(pool.zones.map((z) => z.name)).toStrictEqual(availability_zones);
        }
        if (openstack) {
          const {
            cloud,
            region_name,
            interface: _i,
            ca_bundle_file,
            request_timeout,
            ...launch
          } = openstack as Record<string, unknown>;
          expect(pool.launch).toMatchObject(launch);
          void cloud;
          void region_name;
          void ca_bundle_file;
          void request_timeout;
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('derived defaults and sources', () => {
  it.each([
    [60, 600],
    [600, 600],
    [3_600, 3_600],
  ])(
    'defaults orphan_sweep_interval to max(600, housekeeping_interval = %i) → %i',
    (interval, sweep) => {
      expect(parseConfig({ housekeeping_interval: interval }).orphan_sweep_interval).toBe(sweep);
    },
  );

  it('names a configuration that is not an object as "(configuration)"', () => {
    const error = (() => {
      try {
        parseConfig([]);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error.problems.map((p) => p.field)).toEqual(['(configuration)']);
  });
});
