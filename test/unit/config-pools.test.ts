/**
 * Several pools in one configuration: today's single-pool file is the pool `default`; a
 * `pools` list takes every per-pool field from the top level unless the pool sets it; zones
 * map Octavia's name to Nova's with their own networks; the deployment name gives the ownership
 * tag; and every refusal names the pool, the field, the value and the rule.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigProblem, parseConfig } from '../../lib/config/schema.ts';

function problems(input: unknown): readonly ConfigProblem[] {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be refused`);
}

const LAUNCH = { image_id: 'img', flavor_id: 'small', network_ids: ['mgmt'] };

describe('pools', () => {
  it('reads a file without pools as one pool named default, as before', () => {
    const config = parseConfig({
      spare_amphora_pool_size: 3,
      availability_zones: ['az1'],
      driver: 'openstack',
      openstack: LAUNCH,
    });
    expect(config.pools).toStrictEqual([
      {
        name: 'default',
        spare_amphora_pool_size: 3,
        zones: [{ name: 'az1' }],
        launch: { ...LAUNCH, security_group_ids: [], config_drive: false },
        rotation_budget: 1,
      },
    ]);
  });

  it('takes every per-pool field from the top level unless the pool sets it', () => {
    const config = parseConfig({
      spare_amphora_pool_size: 2,
      availability_zones: ['az1', 'az2'],
      rotation_budget: 2,
      openstack: { ...LAUNCH, key_name: 'ops', security_group_ids: ['sg'] },
      pools: [
        { name: 'small' },
        {
          name: 'large',
          spare_amphora_pool_size: 1,
          availability_zones: ['az3'],
          rotation_budget: 1,
          maximum_deploying_amphora_count: 1,
          maximum_preserved_amphora_count: 0,
          openstack: { flavor_id: 'large', image_tag: 'amphora-large' },
        },
      ],
    });
    const [small, large] = config.pools;
    expect(small).toStrictEqual({
      name: 'small',
      spare_amphora_pool_size: 2,
      zones: [{ name: 'az1' }, { name: 'az2' }],
      launch: {
        image_id: 'img',
        flavor_id: 'small',
        network_ids: ['mgmt'],
        security_group_ids: ['sg'],
        key_name: 'ops',
        config_drive: false,
      },
      rotation_budget: 2,
    });
    // A pool that names its image by tag does not inherit the top level's image id.
    expect(large).toStrictEqual({
      name: 'large',
      spare_amphora_pool_size: 1,
      zones: [{ name: 'az3' }],
      launch: {
        image_tag: 'amphora-large',
        flavor_id: 'large',
        network_ids: ['mgmt'],
        security_group_ids: ['sg'],
        key_name: 'ops',
        config_drive: false,
      },
      rotation_budget: 1,
      maximum_deploying_amphora_count: 1,
      maximum_preserved_amphora_count: 0,
    });
  });

  it('maps an Octavia zone to its compute zone and its own management networks', () => {
    const config = parseConfig({
      driver: 'openstack',
      openstack: { image_id: 'img', flavor_id: 'f' },
      availability_zones: [
        { name: 'octavia-a', compute_zone: 'nova-a', network_ids: ['mgmt-a'] },
        { name: 'octavia-b', compute_zone: 'nova-b', network_ids: ['mgmt-b'] },
      ],
    });
    expect(config.pools[0]!.zones).toStrictEqual([
      { name: 'octavia-a', compute_zone: 'nova-a', network_ids: ['mgmt-a'] },
      { name: 'octavia-b', compute_zone: 'nova-b', network_ids: ['mgmt-b'] },
    ]);
  });

  it.each<[string, Record<string, unknown>, ConfigProblem[]]>([
    [
      'two pools of one name',
      { pools: [{ name: 'a' }, { name: 'a' }] },
      [{ field: 'pools[1].name', value: 'a', rule: 'must be unique among the pools' }],
    ],
    [
      'a pool name that cannot be a Nova tag',
      { pools: [{ name: 'big/one' }] },
      [
        {
          field: 'pools[0].name',
          value: 'big/one',
          rule: 'must be 1 to 40 letters, digits, ".", "_" or "-", starting with a letter or digit (it becomes a Nova tag)',
        },
      ],
    ],
    [
      'a pool without a name',
      { pools: [{ spare_amphora_pool_size: 1 }] },
      [{ field: 'pools[0].name', value: undefined, rule: 'must be a string' }],
    ],
    [
      'a bad value in a pool, named with its pool',
      { pools: [{ name: 'small', spare_amphora_pool_size: -1 }] },
      [{ field: 'pools[small].spare_amphora_pool_size', value: -1, rule: 'must be at least 0' }],
    ],
    [
      'an unknown pool option',
      { pools: [{ name: 'small', size: 3 }] },
      [{ field: 'pools[small].size', value: 3, rule: 'is not a known pool option' }],
    ],
    [
      'a connection setting in a pool',
      { pools: [{ name: 'small', openstack: { region_name: 'r2' } }] },
      [
        {
          field: 'pools[small].openstack.region_name',
          value: 'r2',
          rule: 'is a connection setting: set it once in the top-level openstack section',
        },
      ],
    ],
    [
      'a pool cap above the global one',
      {
        maximum_deploying_amphora_count: 4,
        pools: [{ name: 'small', maximum_deploying_amphora_count: 5 }],
      },
      [
        {
          field: 'pools[small].maximum_deploying_amphora_count',
          value: 5,
          rule: 'must be at most the global maximum_deploying_amphora_count (4)',
        },
      ],
    ],
    [
      'a zone named twice in a pool',
      { pools: [{ name: 'small', availability_zones: ['az1', 'az1'] }] },
      [
        {
          field: 'pools[small].availability_zones',
          value: ['az1', 'az1'],
          rule: 'must not name a zone twice',
        },
      ],
    ],
    [
      'a pool of the openstack driver without a flavor',
      {
        driver: 'openstack',
        openstack: { image_id: 'img', network_ids: ['n'] },
        pools: [{ name: 'small', openstack: { flavor_id: 's' } }, { name: 'large' }],
      },
      [
        {
          field: 'openstack.flavor_id',
          value: undefined,
          rule: 'is required when driver is openstack',
        },
      ],
    ],
    [
      'a pool whose own image setting is ambiguous',
      {
        driver: 'openstack',
        openstack: { flavor_id: 'f', network_ids: ['n'] },
        pools: [{ name: 'small', openstack: { image_id: 'i', image_tag: 't' } }],
      },
      [
        {
          field: 'pools[small].openstack.image_id',
          value: 'i',
          rule: 'exactly one of openstack.image_id and openstack.image_tag must be set when driver is openstack',
        },
      ],
    ],
    [
      'a zone without networks while the pool has none',
      {
        driver: 'openstack',
        openstack: { image_id: 'i', flavor_id: 'f' },
        availability_zones: [{ name: 'a', network_ids: ['n'] }, 'b'],
      },
      [
        {
          field: 'openstack.network_ids',
          value: [],
          rule: 'must name at least one network when driver is openstack (or each zone its own: b has none)',
        },
      ],
    ],
  ])('refuses %s', (_case, input, expected) => {
    expect(problems(input)).toStrictEqual(expected);
  });

  it('reports a pool problem together with a cross-field one and a plain field one', () => {
    expect(
      problems({
        create_backoff_initial: 600,
        create_backoff_max: 60,
        housekeeping_interval: 90,
        pools: [{ name: 'a', rotation_budget: 0 }],
      }),
    ).toStrictEqual([
      {
        field: 'housekeeping_interval',
        value: 90,
        rule: 'must be a multiple of 60 seconds: an EventBridge rate counts whole minutes',
      },
      { field: 'pools[a].rotation_budget', value: 0, rule: 'must be at least 1' },
      {
        field: 'create_backoff_max',
        value: 60,
        rule: 'must be at least create_backoff_initial (600)',
      },
    ]);
  });
});

describe('deployment identity', () => {
  it.each<[Record<string, unknown>, string, string]>([
    [{}, 'amphora-housekeeper', 'amphora-housekeeper'],
    [{ deployment_name: 'octavia-west' }, 'octavia-west', 'octavia-west'],
    [
      { deployment_name: 'octavia-west', ownership_tag: 'legacy-tag' },
      'octavia-west',
      'legacy-tag',
    ],
  ])('derives the ownership tag from the deployment name unless given: %j', (input, name, tag) => {
    const config = parseConfig(input);
    expect(config.deployment_name).toBe(name);
    expect(config.ownership_tag).toBe(tag);
  });

  it('refuses a deployment name that could not be a Nova tag', () => {
    expect(problems({ deployment_name: 'west/1' })).toStrictEqual([
      {
        field: 'deployment_name',
        value: 'west/1',
        rule: 'must be 1 to 60 letters, digits or "-", starting with a letter',
      },
    ]);
  });
});
