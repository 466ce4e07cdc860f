/**
 * The OpenStack driver of a deployed executor, its credentials read from Secrets Manager. Loaded
 * when the executor first needs its driver, so that neither this code nor the Secrets Manager
 * client is evaluated at cold start.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { systemClock } from '../lib/adapters/system-clock.ts';
import { ENV } from '../lib/config/env.ts';
import { ConfigError, type HousekeeperConfig } from '../lib/config/schema.ts';
import { credentialsFromSecret } from '../lib/drivers/openstack/credentials.ts';
import { OpenStackDriver } from '../lib/drivers/openstack/openstack-driver.ts';
import type { Logger } from '../lib/ports/telemetry.ts';

/** Reads the credentials secret and builds the driver. @throws ConfigError for a secret that is not JSON. */
export async function openStackDriverFromSecret(
  config: HousekeeperConfig,
  secretArn: string,
  logger: Logger,
): Promise<OpenStackDriver> {
  const secrets = new SecretsManagerClient({ retryMode: 'standard' });
  const secret = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
  let parsed: unknown;
  try {
    parsed = JSON.parse(secret.SecretString ?? '');
  } catch {
    // Never echo the secret's content.
    throw new ConfigError([
      { field: ENV.credentialsSecretArn, value: secretArn, rule: 'must hold a JSON object' },
    ]);
  }
  return new OpenStackDriver({
    credentials: credentialsFromSecret(parsed),
    config: config.openstack,
    ownershipTag: config.ownership_tag,
    clock: systemClock,
    logger,
  });
}
