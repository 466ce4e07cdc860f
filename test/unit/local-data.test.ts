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
  savedLocalConfig,
  saveLocalConfig,
} from '../../functions/local-stack.ts';
import { ConfigSourceError, parseConfig } from '../../lib/config/schema.ts';

function localDir(driver?: string, pool = true): string {
  const dir = mkdtempSync(join(tmpdir(), 'local-data-'));
  if (pool) mkdirSync(join(dir, 'dynamodb'));
  if (driver) saveLocalConfig({ driver }, dir);
  return dir;
}

describe('one local run with the openstack driver does not switch the noop pool to OpenStack', () => {
  it.each([
    // [driver that made the pool, driver of the new run]
    [undefined, 'openstack'],
    ['noop', 'openstack'],
    ['openstack', 'noop'],
  ])('a pool made by %s is refused to a local run with %s', (before, driver) => {
    const dir = localDir(before);
    expect(() => checkLocalDataDriver(driver, dir)).toThrow(ConfigSourceError);
    expect(() => checkLocalDataDriver(driver, dir)).toThrow(
      `the pool in ${dir}/ belongs to the ${before ?? 'noop'} driver`,
    );
  });

  it.each([
    ['noop', 'noop', true],
    ['openstack', 'openstack', true],
    [undefined, 'openstack', false],
  ])('a pool made by %s goes on with %s (or there is no pool yet)', (before, driver, pool) => {
    expect(() => checkLocalDataDriver(driver, localDir(before, pool))).not.toThrow();
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
