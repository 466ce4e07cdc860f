/**
 * OpenStack credentials in the shapes operators already have: `OS_*` environment variables,
 * a clouds.yaml entry, or the same entry stored as JSON in AWS Secrets Manager. Pure functions:
 * the caller reads the environment, files or secret and passes the parsed values in.
 * Validation messages name the field and never echo a password, secret or token.
 */
import { ConfigError, type ConfigProblem } from '../../config/schema.ts';

/** Keystone v3 password authentication, scoped to one project. */
export interface PasswordAuth {
  readonly type: 'password';
  readonly authUrl: string;
  readonly username?: string;
  readonly userId?: string;
  readonly password: string;
  readonly userDomainName?: string;
  readonly userDomainId?: string;
  readonly projectName?: string;
  readonly projectId?: string;
  readonly projectDomainName?: string;
  readonly projectDomainId?: string;
}

/** Keystone v3 application-credential authentication (the preferred kind: scoped and revocable). */
export interface ApplicationCredentialAuth {
  readonly type: 'application_credential';
  readonly authUrl: string;
  readonly applicationCredentialId?: string;
  /** With a name instead of an id, the owning user must be named too. */
  readonly applicationCredentialName?: string;
  readonly applicationCredentialSecret: string;
  readonly username?: string;
  readonly userId?: string;
  readonly userDomainName?: string;
  readonly userDomainId?: string;
}

/** How to authenticate to Keystone. */
export type OpenStackAuth = PasswordAuth | ApplicationCredentialAuth;

/** Credentials plus the endpoint hints that travel with them in clouds.yaml and openrc files. */
export interface OpenStackCredentials {
  readonly auth: OpenStackAuth;
  readonly regionName?: string;
  readonly interface?: 'public' | 'internal' | 'admin';
  /** CA bundle path from the credential source (`OS_CACERT`, clouds.yaml `cacert`). */
  readonly caBundleFile?: string;
}

/** The secret values of a credential, for redaction. */
export function secretsOf(auth: OpenStackAuth): string[] {
  return auth.type === 'password' ? [auth.password] : [auth.applicationCredentialSecret];
}

type Raw = Record<string, unknown>;

function str(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number') return String(value);
  return undefined;
}

function obj(value: unknown): Raw | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : undefined;
}

/** The neutral form every source is mapped to before one validation. */
interface Fields {
  authType?: string;
  authUrl?: string;
  username?: string;
  userId?: string;
  password?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  defaultDomainId?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
  regionName?: string;
  interface?: string;
  caBundleFile?: string;
}

/** Field names as the source spells them, for messages. */
type Names = Record<keyof Fields, string>;

const ENV_NAMES: Names = {
  authType: 'OS_AUTH_TYPE',
  authUrl: 'OS_AUTH_URL',
  username: 'OS_USERNAME',
  userId: 'OS_USER_ID',
  password: 'OS_PASSWORD',
  userDomainName: 'OS_USER_DOMAIN_NAME',
  userDomainId: 'OS_USER_DOMAIN_ID',
  projectName: 'OS_PROJECT_NAME',
  projectId: 'OS_PROJECT_ID',
  projectDomainName: 'OS_PROJECT_DOMAIN_NAME',
  projectDomainId: 'OS_PROJECT_DOMAIN_ID',
  defaultDomainId: 'OS_DEFAULT_DOMAIN',
  applicationCredentialId: 'OS_APPLICATION_CREDENTIAL_ID',
  applicationCredentialName: 'OS_APPLICATION_CREDENTIAL_NAME',
  applicationCredentialSecret: 'OS_APPLICATION_CREDENTIAL_SECRET',
  regionName: 'OS_REGION_NAME',
  interface: 'OS_INTERFACE',
  caBundleFile: 'OS_CACERT',
};

function yamlNames(prefix: string): Names {
  const a = `${prefix}auth.`;
  return {
    authType: `${prefix}auth_type`,
    authUrl: `${a}auth_url`,
    username: `${a}username`,
    userId: `${a}user_id`,
    password: `${a}password`,
    userDomainName: `${a}user_domain_name`,
    userDomainId: `${a}user_domain_id`,
    projectName: `${a}project_name`,
    projectId: `${a}project_id`,
    projectDomainName: `${a}project_domain_name`,
    projectDomainId: `${a}project_domain_id`,
    defaultDomainId: `${a}domain_id`,
    applicationCredentialId: `${a}application_credential_id`,
    applicationCredentialName: `${a}application_credential_name`,
    applicationCredentialSecret: `${a}application_credential_secret`,
    regionName: `${prefix}region_name`,
    interface: `${prefix}interface`,
    caBundleFile: `${prefix}cacert`,
  };
}

const SECRET_FIELDS = new Set<keyof Fields>(['password', 'applicationCredentialSecret']);

const AUTH_TYPES: Record<string, OpenStackAuth['type']> = {
  password: 'password',
  v3password: 'password',
  v3applicationcredential: 'application_credential',
  applicationcredential: 'application_credential',
  application_credential: 'application_credential',
  v3_application_credential: 'application_credential',
};

const INTERFACES: Record<string, 'public' | 'internal' | 'admin'> = {
  public: 'public',
  publicurl: 'public',
  internal: 'internal',
  internalurl: 'internal',
  admin: 'admin',
  adminurl: 'admin',
};

function validate(f: Fields, names: Names): OpenStackCredentials {
  const problems: ConfigProblem[] = [];
  const problem = (field: keyof Fields, rule: string) => {
    const value = f[field];
    problems.push({
      field: names[field],
      // A secret is only ever reported as present or missing.
      value: SECRET_FIELDS.has(field) && value !== undefined ? '(set)' : value,
      rule,
    });
  };

  const typeText = f.authType?.toLowerCase();
  const type: OpenStackAuth['type'] | undefined =
    typeText !== undefined
      ? AUTH_TYPES[typeText]
      : f.applicationCredentialSecret !== undefined
        ? 'application_credential'
        : 'password';
  if (type === undefined) {
    problem('authType', 'must be v3password or v3applicationcredential');
  }

  if (f.authUrl === undefined) problem('authUrl', 'is required');
  else if (!/^https?:\/\/[^/\s]+/i.test(f.authUrl)) {
    problem('authUrl', 'must be an http:// or https:// URL of Keystone');
  }

  const iface = f.interface !== undefined ? INTERFACES[f.interface.toLowerCase()] : undefined;
  if (f.interface !== undefined && iface === undefined) {
    problem('interface', 'must be one of public, internal, admin');
  }

  const userDomainId = f.userDomainId ?? (f.userDomainName ? undefined : f.defaultDomainId);
  const projectDomainId =
    f.projectDomainId ?? (f.projectDomainName ? undefined : f.defaultDomainId);
  const userNamed = f.username !== undefined && f.userId === undefined;
  if (type === 'password') {
    if (f.password === undefined) problem('password', 'is required for password auth');
    if (f.username === undefined && f.userId === undefined) {
      problem('username', `is required for password auth (or set ${names.userId})`);
    }
    if (userNamed && f.userDomainName === undefined && userDomainId === undefined) {
      problem(
        'userDomainName',
        `is required with ${names.username} (or set ${names.userDomainId}), e.g. Default`,
      );
    }
    if (f.projectId === undefined && f.projectName === undefined) {
      problem(
        'projectName',
        `is required: the token must be scoped to a project (or set ${names.projectId})`,
      );
    } else if (
      f.projectId === undefined &&
      f.projectDomainName === undefined &&
      projectDomainId === undefined
    ) {
      problem(
        'projectDomainName',
        `is required with ${names.projectName} (or set ${names.projectDomainId}), e.g. Default`,
      );
    }
  }
  if (type === 'application_credential') {
    if (f.applicationCredentialSecret === undefined) {
      problem('applicationCredentialSecret', 'is required for application credential auth');
    }
    if (f.applicationCredentialId === undefined) {
      if (f.applicationCredentialName === undefined) {
        problem(
          'applicationCredentialId',
          `is required for application credential auth (or set ${names.applicationCredentialName} with the user)`,
        );
      } else if (f.userId === undefined && f.username === undefined) {
        problem(
          'username',
          `is required with ${names.applicationCredentialName} (or set ${names.userId})`,
        );
      } else if (userNamed && f.userDomainName === undefined && userDomainId === undefined) {
        problem(
          'userDomainName',
          `is required with ${names.username} (or set ${names.userDomainId})`,
        );
      }
    }
  }
  if (problems.length > 0 || type === undefined || f.authUrl === undefined) {
    throw new ConfigError(problems);
  }

  const pick = <K extends string>(key: K, value: string | undefined) =>
    (value !== undefined ? { [key]: value } : {}) as { [P in K]?: string };
  const user = {
    ...pick('username', f.userId === undefined ? f.username : undefined),
    ...pick('userId', f.userId),
    ...pick('userDomainName', f.userId === undefined ? f.userDomainName : undefined),
    ...pick(
      'userDomainId',
      f.userId === undefined && f.userDomainName === undefined ? userDomainId : undefined,
    ),
  };
  const auth: OpenStackAuth =
    type === 'password'
      ? {
          type,
          authUrl: f.authUrl,
          password: f.password!,
          ...user,
          ...pick('projectId', f.projectId),
          ...pick('projectName', f.projectId === undefined ? f.projectName : undefined),
          ...pick('projectDomainName', f.projectId === undefined ? f.projectDomainName : undefined),
          ...pick(
            'projectDomainId',
            f.projectId === undefined && f.projectDomainName === undefined
              ? projectDomainId
              : undefined,
          ),
        }
      : {
          type,
          authUrl: f.authUrl,
          applicationCredentialSecret: f.applicationCredentialSecret!,
          ...pick('applicationCredentialId', f.applicationCredentialId),
          ...(f.applicationCredentialId === undefined
            ? { ...pick('applicationCredentialName', f.applicationCredentialName), ...user }
            : {}),
        };
  return {
    auth,
    ...pick('regionName', f.regionName),
    ...(iface !== undefined ? { interface: iface } : {}),
    ...pick('caBundleFile', f.caBundleFile),
  };
}

/**
 * Credentials from `OS_*` environment variables, as in an openrc file.
 * @throws ConfigError naming every missing or bad variable.
 */
export function credentialsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): OpenStackCredentials {
  const f: Fields = {};
  for (const [field, name] of Object.entries(ENV_NAMES) as Array<[keyof Fields, string]>) {
    const value = str(env[name]);
    if (value !== undefined) f[field] = value;
  }
  // Keystone v2-era names that many openrc files still carry.
  f.projectName ??= str(env.OS_TENANT_NAME);
  f.projectId ??= str(env.OS_TENANT_ID);
  f.interface ??= str(env.OS_ENDPOINT_TYPE);
  return validate(f, ENV_NAMES);
}

function fieldsFromEntry(entry: Raw): Fields {
  const auth = obj(entry.auth) ?? {};
  const f: Fields = {};
  const set = (field: keyof Fields, value: unknown) => {
    const v = str(value);
    if (v !== undefined) f[field] = v;
  };
  set('authType', entry.auth_type);
  set('authUrl', auth.auth_url);
  set('username', auth.username);
  set('userId', auth.user_id);
  set('password', auth.password);
  set('userDomainName', auth.user_domain_name);
  set('userDomainId', auth.user_domain_id);
  set('projectName', auth.project_name ?? auth.tenant_name);
  set('projectId', auth.project_id ?? auth.tenant_id);
  set('projectDomainName', auth.project_domain_name);
  set('projectDomainId', auth.project_domain_id);
  set('defaultDomainId', auth.domain_id);
  set('applicationCredentialId', auth.application_credential_id);
  set('applicationCredentialName', auth.application_credential_name);
  set('applicationCredentialSecret', auth.application_credential_secret);
  set('regionName', entry.region_name);
  set('interface', entry.interface ?? entry.endpoint_type);
  set('caBundleFile', entry.cacert);
  return f;
}

function merge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const a = obj(out[key]);
    const b = obj(value);
    out[key] = a && b ? merge(a, b) : value;
  }
  return out;
}

/**
 * Credentials from one entry of a parsed clouds.yaml, merged with the same entry of a parsed
 * secure.yaml when given (as openstacksdk does).
 * @throws ConfigError when the cloud is missing or its entry is incomplete.
 */
export function credentialsFromCloudsYaml(
  cloudsYaml: unknown,
  cloud: string,
  secureYaml?: unknown,
): OpenStackCredentials {
  const entry = obj(obj(obj(cloudsYaml)?.clouds)?.[cloud]);
  if (!entry) {
    const known = Object.keys(obj(obj(cloudsYaml)?.clouds) ?? {});
    throw new ConfigError([
      {
        field: `clouds.${cloud}`,
        value: undefined,
        rule: `is not in clouds.yaml (clouds there: ${known.length > 0 ? known.join(', ') : 'none'})`,
      },
    ]);
  }
  const secure = obj(obj(obj(secureYaml)?.clouds)?.[cloud]);
  return validate(
    fieldsFromEntry(secure ? merge(entry, secure) : entry),
    yamlNames(`clouds.${cloud}.`),
  );
}

/**
 * Credentials from the AWS Secrets Manager secret: either one clouds.yaml entry as JSON
 * (`{"auth_type", "auth": {...}, "region_name", "interface"}`) or a flat object of `OS_*`
 * variables. Accepts the parsed object or the secret string.
 * @throws ConfigError when the secret is not JSON or is incomplete (the text is never echoed).
 */
export function credentialsFromSecret(secret: unknown): OpenStackCredentials {
  let value = secret;
  if (typeof secret === 'string') {
    try {
      value = JSON.parse(secret);
    } catch {
      throw new ConfigError([
        { field: 'credentials secret', value: '(set)', rule: 'must be a JSON object' },
      ]);
    }
  }
  const entry = obj(value);
  if (!entry) {
    throw new ConfigError([
      { field: 'credentials secret', value: '(set)', rule: 'must be a JSON object' },
    ]);
  }
  if (Object.keys(entry).some((key) => key.startsWith('OS_'))) {
    const env: Record<string, string | undefined> = {};
    for (const [key, v] of Object.entries(entry)) env[key] = str(v);
    return credentialsFromEnv(env);
  }
  return validate(fieldsFromEntry(entry), yamlNames('secret.'));
}
