import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../../lib/config/schema.ts';
import {
  credentialsFromCloudsYaml,
  credentialsFromEnv,
  credentialsFromSecret,
} from '../../../lib/drivers/openstack/credentials.ts';

const PASSWORD_ENV = {
  OS_AUTH_URL: 'https://keystone.example:5000/v3',
  OS_USERNAME: 'housekeeper',
  OS_PASSWORD: 'pw-very-secret',
  OS_USER_DOMAIN_NAME: 'Default',
  OS_PROJECT_NAME: 'octavia',
  OS_PROJECT_DOMAIN_NAME: 'Default',
  OS_REGION_NAME: 'RegionTwo',
  OS_INTERFACE: 'internal',
  OS_CACERT: '/etc/ssl/cloud-ca.pem',
};

const APPCRED_ENV = {
  OS_AUTH_TYPE: 'v3applicationcredential',
  OS_AUTH_URL: 'https://keystone.example:5000/v3',
  OS_APPLICATION_CREDENTIAL_ID: 'ac-id-1',
  OS_APPLICATION_CREDENTIAL_SECRET: 'ac-very-secret',
};

function problemsOf(fn: () => unknown): Array<{ field: string; value: unknown; rule: string }> {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('credentials from OS_* environment variables', () => {
  it('reads a password openrc with its region, interface and CA bundle', () => {
    // Act
    const c = credentialsFromEnv(PASSWORD_ENV);
    // Assess
    expect(c).toEqual({
      auth: {
        type: 'password',
        authUrl: 'https://keystone.example:5000/v3',
        username: 'housekeeper',
        password: 'pw-very-secret',
        userDomainName: 'Default',
        projectName: 'octavia',
        projectDomainName: 'Default',
      },
      regionName: 'RegionTwo',
      interface: 'internal',
      caBundleFile: '/etc/ssl/cloud-ca.pem',
    });
  });

  it('reads an application credential openrc', () => {
    expect(credentialsFromEnv(APPCRED_ENV).auth).toEqual({
      type: 'application_credential',
      authUrl: 'https://keystone.example:5000/v3',
      applicationCredentialId: 'ac-id-1',
      applicationCredentialSecret: 'ac-very-secret',
    });
  });

  it('infers application credential auth from the secret when OS_AUTH_TYPE is absent', () => {
    const { OS_AUTH_TYPE: _, ...env } = APPCRED_ENV;
    expect(credentialsFromEnv(env).auth.type).toBe('application_credential');
  });

  it('accepts the Keystone v2-era names and OS_DEFAULT_DOMAIN', () => {
    const c = credentialsFromEnv({
      OS_AUTH_URL: 'http://k:5000',
      OS_USERNAME: 'u',
      OS_PASSWORD: 'pw-secret',
      OS_TENANT_NAME: 'proj',
      OS_DEFAULT_DOMAIN: 'default',
      OS_ENDPOINT_TYPE: 'publicURL',
    });
    expect(c.auth).toMatchObject({
      projectName: 'proj',
      userDomainId: 'default',
      projectDomainId: 'default',
    });
    expect(c.interface).toBe('public');
  });

  it('prefers ids over names when both are given', () => {
    const c = credentialsFromEnv({ ...PASSWORD_ENV, OS_USER_ID: 'uid', OS_PROJECT_ID: 'pid' });
    expect(c.auth).toMatchObject({ userId: 'uid', projectId: 'pid' });
    expect(c.auth).not.toHaveProperty('username');
    expect(c.auth).not.toHaveProperty('projectName');
  });

  it.each([
    ['OS_AUTH_URL', { ...PASSWORD_ENV, OS_AUTH_URL: undefined }, 'is required'],
    ['OS_AUTH_URL', { ...PASSWORD_ENV, OS_AUTH_URL: 'keystone:5000' }, 'http:// or https://'],
    ['OS_PASSWORD', { ...PASSWORD_ENV, OS_PASSWORD: undefined }, 'is required for password auth'],
    ['OS_USERNAME', { ...PASSWORD_ENV, OS_USERNAME: undefined }, 'is required for password auth'],
    [
      'OS_USER_DOMAIN_NAME',
      { ...PASSWORD_ENV, OS_USER_DOMAIN_NAME: undefined },
      'is required with OS_USERNAME',
    ],
    ['OS_PROJECT_NAME', { ...PASSWORD_ENV, OS_PROJECT_NAME: undefined }, 'scoped to a project'],
    [
      'OS_PROJECT_DOMAIN_NAME',
      { ...PASSWORD_ENV, OS_PROJECT_DOMAIN_NAME: undefined },
      'is required with OS_PROJECT_NAME',
    ],
    [
      'OS_INTERFACE',
      { ...PASSWORD_ENV, OS_INTERFACE: 'private' },
      'one of public, internal, admin',
    ],
    [
      'OS_AUTH_TYPE',
      { ...PASSWORD_ENV, OS_AUTH_TYPE: 'token' },
      'v3password or v3applicationcredential',
    ],
    [
      'OS_APPLICATION_CREDENTIAL_SECRET',
      { ...APPCRED_ENV, OS_APPLICATION_CREDENTIAL_SECRET: undefined },
      'is required',
    ],
    [
      'OS_APPLICATION_CREDENTIAL_ID',
      { ...APPCRED_ENV, OS_APPLICATION_CREDENTIAL_ID: undefined },
      'is required',
    ],
  ])('refuses a missing or bad %s, naming it', (field, env, rule) => {
    const problems = problemsOf(() => credentialsFromEnv(env));
    expect(problems.find((p) => p.field === field)?.rule).toContain(rule);
  });

  it('never echoes a secret in a validation message', () => {
    // Prepare: secrets present, but the credential is unusable for other reasons
    const env = { ...PASSWORD_ENV, OS_AUTH_URL: 'nope', OS_AUTH_TYPE: 'bogus' };
    // Act
    let message = '';
    try {
      credentialsFromEnv(env);
    } catch (error) {
      message = String(error) + JSON.stringify((error as ConfigError).problems);
    }
    // Assess
    expect(message).toContain('OS_AUTH_URL');
    expect(message).not.toContain('pw-very-secret');
  });
});

const CLOUDS_YAML = `
clouds:
  prod:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000
      application_credential_id: ac-prod
      application_credential_secret: from-clouds-yaml
    region_name: RegionOne
    interface: public
    cacert: /etc/ssl/ca.pem
  legacy:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: hk
      password: pw-clouds-yaml
      user_domain_name: Default
      project_name: octavia
      project_domain_name: Default
`;

describe('credentials from clouds.yaml', () => {
  it('reads an application credential entry with its endpoint hints', () => {
    const c = credentialsFromCloudsYaml(parse(CLOUDS_YAML), 'prod');
    expect(c).toEqual({
      auth: {
        type: 'application_credential',
        authUrl: 'https://keystone.example:5000',
        applicationCredentialId: 'ac-prod',
        applicationCredentialSecret: 'from-clouds-yaml',
      },
      regionName: 'RegionOne',
      interface: 'public',
      caBundleFile: '/etc/ssl/ca.pem',
    });
  });

  it('reads a password entry', () => {
    expect(credentialsFromCloudsYaml(parse(CLOUDS_YAML), 'legacy').auth).toMatchObject({
      type: 'password',
      username: 'hk',
      password: 'pw-clouds-yaml',
      projectName: 'octavia',
    });
  });

  it('takes secrets from secure.yaml over clouds.yaml', () => {
    const secure = parse(`
clouds:
  prod:
    auth:
      application_credential_secret: from-secure-yaml
`);
    const c = credentialsFromCloudsYaml(parse(CLOUDS_YAML), 'prod', secure);
    expect(c.auth).toMatchObject({
      applicationCredentialSecret: 'from-secure-yaml',
      applicationCredentialId: 'ac-prod',
    });
  });

  it('names the known clouds when the wanted one is missing', () => {
    const problems = problemsOf(() => credentialsFromCloudsYaml(parse(CLOUDS_YAML), 'staging'));
    expect(problems[0]!.rule).toContain('prod, legacy');
  });

  it('names the clouds.yaml path of a missing field', () => {
    const doc = parse(CLOUDS_YAML);
    delete doc.clouds.legacy.auth.password;
    const problems = problemsOf(() => credentialsFromCloudsYaml(doc, 'legacy'));
    expect(problems.map((p) => p.field)).toContain('clouds.legacy.auth.password');
  });
});

describe('credentials from the Secrets Manager secret', () => {
  it('reads one clouds.yaml entry stored as JSON text', () => {
    const secret = JSON.stringify(parse(CLOUDS_YAML).clouds.prod);
    expect(credentialsFromSecret(secret)).toEqual(
      credentialsFromCloudsYaml(parse(CLOUDS_YAML), 'prod'),
    );
  });

  it('reads a flat object of OS_* variables', () => {
    expect(credentialsFromSecret(APPCRED_ENV)).toEqual(credentialsFromEnv(APPCRED_ENV));
  });

  it('refuses text that is not JSON without echoing it', () => {
    const problems = problemsOf(() => credentialsFromSecret('password=hunter2-secret'));
    expect(problems[0]).toEqual({
      field: 'credentials secret',
      value: '(set)',
      rule: 'must be a JSON object',
    });
  });

  it('reports a secret field only as set or missing', () => {
    const problems = problemsOf(() =>
      credentialsFromSecret({
        auth_type: 'v3applicationcredential',
        auth: { application_credential_secret: 's3cr3t-value' },
      }),
    );
    expect(JSON.stringify(problems)).not.toContain('s3cr3t-value');
    expect(problems.map((p) => p.field)).toEqual(
      expect.arrayContaining(['secret.auth.auth_url', 'secret.auth.application_credential_id']),
    );
  });
});
