/**
 * The service's own CloudWatch metrics, only as the code emits them: a name from `METRICS`, in
 * `METRICS_NAMESPACE`, with exactly the contract's dimensions plus the `service` dimension that
 * Powertools adds to every metric. A metric CloudWatch holds under other dimensions is another
 * metric, and an alarm on it would never see data.
 */
import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import {
  METRICS,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from '../lib/config/deployment.ts';

/** The dimension Powertools Metrics adds to every metric, valued with the service name. */
export const POWERTOOLS_SERVICE_DIMENSION = 'service';

/** The full dimension names of a metric as emitted, sorted (as CloudWatch's SEARCH schema wants). */
export function emittedDimensionNames(name: MetricName): string[] {
  return [POWERTOOLS_SERVICE_DIMENSION, ...METRICS[name].dimensions].sort();
}

/**
 * One of our metrics with its dimension values.
 * @throws Error when `dimensions` does not name exactly the contract's dimensions of `name`.
 */
export function housekeeperMetric(
  name: MetricName,
  options: {
    readonly dimensions?: Readonly<Record<string, string>>;
    readonly statistic: string;
    readonly periodSeconds: number;
    readonly label?: string;
  },
): cw.Metric {
  const given = Object.keys(options.dimensions ?? {}).sort();
  const wanted = [...METRICS[name].dimensions].sort();
  if (given.join() !== wanted.join()) {
    throw new Error(
      `metric ${name}: dimensions [${given.join(', ')}] must be the emitted ones [${wanted.join(', ')}]`,
    );
  }
  return new cw.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: METRICS[name].name,
    dimensionsMap: { ...options.dimensions, [POWERTOOLS_SERVICE_DIMENSION]: SERVICE_NAME },
    statistic: options.statistic,
    period: Duration.seconds(options.periodSeconds),
    ...(options.label ? { label: options.label } : {}),
  });
}

/**
 * Every series of a metric whose dimensions take values only known at run time (task types,
 * outcomes, error classes), as a CloudWatch SEARCH over its exact emitted dimension schema.
 */
export function housekeeperSearch(
  name: MetricName,
  options: { readonly statistic: string; readonly periodSeconds: number; readonly label: string },
): cw.MathExpression {
  const schema = [METRICS_NAMESPACE, ...emittedDimensionNames(name)].join(',');
  const filter = `MetricName="${METRICS[name].name}" ${POWERTOOLS_SERVICE_DIMENSION}="${SERVICE_NAME}"`;
  return new cw.MathExpression({
    expression: `SEARCH('{${schema}} ${filter}', '${options.statistic}', ${options.periodSeconds})`,
    usingMetrics: {},
    label: options.label,
    period: Duration.seconds(options.periodSeconds),
  });
}
