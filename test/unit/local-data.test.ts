/**
 * The local data in .local/: the configuration a local run saves for later commands, and the
 * driver its pool belongs to.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkLocalDataDriver,
  localCredentials,
  poolInUse,
  savedLocalConfig,
  saveLocalConfig,
} from '../../functions/local-stack.ts';
import { ConfigSourceError, parseConfig } from '../../lib/config/schema.ts';
import type { PoolState } from '../../lib/ports/pool-store.ts';

function localDir(driver?: string, pool = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'local-data-'));
  if (pool) mkdirSync(join(dir, 'dynamodb'));
  if (driver) saveLocalConfig({ driver }, dir);
  return dir;
}

describe('one local run with the openstack driver does not switch the noop pool to OpenStack', () => {
  it.each([
    // [driver that made the pool, driver of the new run, whether the open pool holds amphorae]
    [undefined, 'openstack', true],
    ['noop', 'openstack', undefined],
    ['noop', 'openstack', false],
    ['openstack', 'noop', undefined],
  ])(
    'a pool made by %s is refused to a local run with %s (pool in use: %s)',
    (before, driver, inUse) => {
      const dir = localDir(before);
      expect(() => checkLocalDataDriver(driver, dir, inUse)).toThrow(ConfigSourceError);
      expect(() => checkLocalDataDriver(driver, dir, inUse)).toThrow(
        `the pool in ${dir}/ belongs to the ${before ?? 'noop'} driver`,
      );
    },
  );

  it.each([
    ['noop', 'noop', true, undefined],
    ['openstack', 'openstack', true, undefined],
    [undefined, 'openstack', false, undefined],
  ])(
    'a pool made by %s goes on with %s (or there is no pool yet)',
    (before, driver, pool, inUse) => {
      expect(() => checkLocalDataDriver(driver, localDir(before, pool), inUse)).not.toThrow();
    },
  );

  it.each([
    ['before the data is open', undefined],
    ['once it is open and holds no amphora', false],
  ])(
    'data only other commands made (status in a fresh folder) does not refuse an openstack local run, %s',
    (_, inUse) => {
      expect(() => checkLocalDataDriver('openstack', localDir(undefined), inUse)).not.toThrow();
    },
  );

  it.each([
    [{}, false],
    [{ default: { '*': { DELETED: 3, READY: 0 } } }, false],
    [{ default: { '*': { DELETED: 3, READY: 1 } } }, true],
    [{ a: { '*': {} }, b: { 'az-1': { PENDING_DELETE: 1 } } }, true],
  ])('a pool with counts %j is in use: %s', async (counts, inUse) => {
    const store = { getPoolState: async () => ({ counts }) as unknown as PoolState };
    expect(await poolInUse(store)).toBe(inUse);
  });
});

describe('a corrupt .local/config.json', () => {
  it.each(['{bad', '[1]', ''])(
    'is refused with the file and the remedy, not a stack trace: %j',
    (text) => {
      const dir = localDir();
      writeFileSync(join(dir, 'config.json'), text);
      expect(() => savedLocalConfig(dir)).toThrow(ConfigSourceError);
      expect(() => savedLocalConfig(dir)).toThrow(
        new RegExp(
          `^${join(dir, 'config.json')}: (is not valid JSON|must hold a JSON object).*; the next local run writes it again`,
        ),
      );
    },
  );
});

describe('credential-file errors are configuration errors (exit status 2)', () => {
  it('a cloud with no clouds.yaml anywhere', () => {
    const config = parseConfig({ openstack: { cloud: 'prod' } });
    const env = {
      HOME: mkdtempSync(join(tmpdir(), 'home-')),
      OS_CLIENT_CONFIG_FILE: '/nonexistent/clouds.yaml',
    };
    expect(() => localCredentials(config, env)).toThrow(ConfigSourceError);
    expect(() => localCredentials(config, env)).toThrow(/^cloud prod: no clouds.yaml found/);
  });

  it('a clouds.yaml that is not YAML', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'clouds-')), 'clouds.yaml');
    writeFileSync(file, 'clouds: [unclosed');
    const config = parseConfig({ openstack: { cloud: 'prod' } });
    expect(() => localCredentials(config, { OS_CLIENT_CONFIG_FILE: file })).toThrow(
      new RegExp(`^${file}: cannot be read as YAML`),
    );
  });
});
