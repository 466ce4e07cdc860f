/** How a local run finds OpenStack credentials: a clouds.yaml entry (with secure.yaml), or OS_* variables. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localCredentials, openStackConfigCandidates } from '../../functions/local-stack.ts';
import { parseConfig } from '../../lib/config/schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'clouds-'));
const clouds = join(dir, 'clouds.yaml');
writeFileSync(
  clouds,
  [
    'clouds:',
    '  prod:',
    '    auth_type: v3applicationcredential',
    '    auth:',
    '      auth_url: https://keystone.example.com:5000/v3',
    '      application_credential_id: ac-1',
    '    region_name: RegionTwo',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'secure.yaml'),
  ['clouds:', '  prod:', '    auth:', '      application_credential_secret: s3cr3t-value'].join(
    '\n',
  ),
);

describe('local OpenStack credentials', () => {
  it('reads the clouds.yaml entry named by openstack.cloud, with secure.yaml merged over it', () => {
    const credentials = localCredentials(parseConfig({ openstack: { cloud: 'prod' } }), {
      OS_CLIENT_CONFIG_FILE: clouds,
    });
    expect(credentials).toMatchObject({
      auth: {
        type: 'application_credential',
        authUrl: 'https://keystone.example.com:5000/v3',
        applicationCredentialId: 'ac-1',
        applicationCredentialSecret: 's3cr3t-value',
      },
      regionName: 'RegionTwo',
    });
  });

  it('takes the entry from OS_CLOUD when the configuration names none', () => {
    const credentials = localCredentials(parseConfig({}), {
      OS_CLOUD: 'prod',
      OS_CLIENT_CONFIG_FILE: clouds,
    });
    expect(credentials.regionName).toBe('RegionTwo');
  });

  it('falls back to the OS_* variables without a cloud name', () => {
    const credentials = localCredentials(parseConfig({}), {
      OS_AUTH_URL: 'https://keystone.example.com:5000/v3',
      OS_APPLICATION_CREDENTIAL_ID: 'ac-2',
      OS_APPLICATION_CREDENTIAL_SECRET: 'another-secret',
    });
    expect(credentials.auth).toMatchObject({
      type: 'application_credential',
      applicationCredentialId: 'ac-2',
    });
  });

  it('says where it looked when no clouds.yaml exists', () => {
    expect(() =>
      localCredentials(parseConfig({ openstack: { cloud: 'prod' } }), {
        OS_CLIENT_CONFIG_FILE: join(dir, 'missing.yaml'),
        HOME: join(dir, 'no-home'),
      }),
    ).toThrow(
      /cloud prod: no clouds\.yaml found \(looked at .*missing\.yaml, clouds\.yaml, clouds\.yml, clouds\.json, .*no-home\/\.config\/openstack\/clouds\.yaml, .*, \/etc\/openstack\/clouds\.json\)/,
    );
  });

  it('honours OS_CLIENT_SECURE_FILE, as openstacksdk does, wherever it is', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'secure-'));
    const secret = join(elsewhere, 'my-secrets.yaml');
    writeFileSync(
      secret,
      ['clouds:', '  prod:', '    auth:', '      application_credential_secret: from-env'].join(
        '\n',
      ),
    );

    const credentials = localCredentials(parseConfig({ openstack: { cloud: 'prod' } }), {
      OS_CLIENT_CONFIG_FILE: clouds,
      OS_CLIENT_SECURE_FILE: secret,
    });

    expect(credentials.auth).toMatchObject({ applicationCredentialSecret: 'from-env' });
  });

  it("searches in openstacksdk's order: the variable, then ., ~/.config/openstack, /etc/openstack", () => {
    const found = openStackConfigCandidates({
      HOME: '/home/op',
      OS_CLIENT_CONFIG_FILE: '/x/clouds.yaml',
      OS_CLIENT_SECURE_FILE: '/y/secure.yaml',
    });

    const inDirs = (name: string) =>
      ['', '/home/op/.config/openstack/', '/etc/openstack/'].flatMap((d) =>
        ['.yaml', '.yml', '.json'].map((suffix) => `${d}${name}${suffix}`),
      );
    expect(found).toStrictEqual({
      clouds: ['/x/clouds.yaml', ...inDirs('clouds')],
      secure: ['/y/secure.yaml', ...inDirs('secure'), '/x/secure.yaml'],
    });
  });
});
