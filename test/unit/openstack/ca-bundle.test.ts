import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AmphoraDriverError, UnavailableError } from '../../../lib/domain/errors.ts';
import { clearTokenCache } from '../../../lib/drivers/openstack/keystone.ts';
import { FakeOpenStack } from '../../support/openstack-fake/fake-openstack.ts';
import { appCredentials, driverOnFake } from '../../support/openstack-fake/harness.ts';

describe('a cloud behind a private CA', () => {
  let dir: string;
  let fake: FakeOpenStack;
  let caFile: string;

  beforeAll(async () => {
    // Prepare: a self-signed certificate for 127.0.0.1, made fresh so that no key is committed
    dir = mkdtempSync(join(tmpdir(), 'osfake-tls-'));
    caFile = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        caFile,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    fake = await new FakeOpenStack({
      tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(caFile, 'utf8') },
    }).start();
  });
  afterAll(async () => {
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => clearTokenCache());

  it('trusts the cloud with the configured CA bundle file', async () => {
    const driver = driverOnFake(fake, { config: { ca_bundle_file: caFile } });
    expect(await driver.listServers()).toEqual([]);
  });

  it('uses the CA bundle that came with the credentials when the configuration names none', async () => {
    const driver = driverOnFake(fake, {
      credentials: { ...appCredentials(fake), caBundleFile: caFile },
    });
    expect(await driver.listServers()).toEqual([]);
  });

  it('refuses an untrusted certificate as a lasting error, not a transient one', async () => {
    const error = await driverOnFake(fake)
      .listServers()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AmphoraDriverError);
    expect(error).not.toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toMatch(/SELF_SIGNED|self-signed/i);
  });

  it('names an unreadable CA bundle file, and reads it again on the next call', async () => {
    // Prepare
    const later = join(dir, 'later.pem');
    const driver = driverOnFake(fake, { config: { ca_bundle_file: later } });
    // Act
    const first = await driver.listServers().catch((e: unknown) => e);
    copyFileSync(caFile, later);
    const second = await driver.listServers();
    // Assess
    expect(first).toBeInstanceOf(AmphoraDriverError);
    expect((first as Error).message).toBe(`cannot read openstack.ca_bundle_file ${later}: ENOENT`);
    expect(second).toEqual([]);
  });
});
