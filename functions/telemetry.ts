/** Powertools logger and metrics of the functions, configured from their standard variables. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** The service name in logs and the metrics namespace, unless the environment sets them. */
export const SERVICE = 'amphora-housekeeper';

/** One Powertools logger and metrics pair per function. */
export function powertools(functionName: string) {
  const logger = new Logger({ serviceName: SERVICE, persistentKeys: { function: functionName } });
  const metrics = new Metrics({ namespace: 'AmphoraHousekeeper', serviceName: SERVICE });
  return { logger, metrics };
}
