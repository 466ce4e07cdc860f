/** The telemetry ports on Powertools for AWS Lambda: structured JSON logs and EMF metrics. */
import type { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Dimensions, LogFields, Logger, Metrics } from '../ports/telemetry.ts';

/** Our logger port on a Powertools logger. */
export function powertoolsLogger(logger: PowertoolsLogger): Logger {
  return {
    debug: (message: string, fields?: LogFields) => logger.debug(message, { ...fields }),
    info: (message: string, fields?: LogFields) => logger.info(message, { ...fields }),
    warn: (message: string, fields?: LogFields) => logger.warn(message, { ...fields }),
    error: (message: string, fields?: LogFields) => logger.error(message, { ...fields }),
  };
}

/**
 * Our metrics port on Powertools metrics. Metrics with dimensions go out as single metrics (their
 * own EMF blob) so that one invocation can emit the same name with different dimensions.
 */
export function powertoolsMetrics(metrics: PowertoolsMetrics): Metrics {
  const emit = (
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
    dimensions?: Dimensions,
  ) => {
    if (!dimensions || Object.keys(dimensions).length === 0) {
      metrics.addMetric(name, unit, value);
      return;
    }
    const single = metrics.singleMetric();
    for (const [key, v] of Object.entries(dimensions)) single.addDimension(key, v);
    single.addMetric(name, unit, value);
  };
  return {
    count: (name, value = 1, dimensions) => emit(name, MetricUnit.Count, value, dimensions),
    gauge: (name, value, dimensions) => emit(name, MetricUnit.Count, value, dimensions),
  };
}
