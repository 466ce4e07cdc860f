/** Powertools logger and metrics of the functions, configured from their standard variables. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

import { METRICS_NAMESPACE, SERVICE_NAME } from '../lib/config/deployment.ts';

/** The service name in logs and the metrics namespace, unless the environment sets them. */
export const SERVICE = SERVICE_NAME;

/** One Powertools logger and metrics pair per function. */
export function powertools(functionName: string) {
  const logger = new Logger({ serviceName: SERVICE, persistentKeys: { function: functionName } });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE });
  return { logger, metrics };
}
