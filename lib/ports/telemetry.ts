/** Logging and metrics, as the use cases need them; Powertools adapters implement these in AWS. */

/** Structured fields of a log line. Never put a credential or token here. */
export type LogFields = Readonly<Record<string, unknown>>;

/** A structured logger. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Metric dimensions. */
export type Dimensions = Readonly<Record<string, string>>;

/** A metrics sink (CloudWatch EMF in AWS). */
export interface Metrics {
  /** Adds `value` (default 1) to a counter. */
  count(name: string, value?: number, dimensions?: Dimensions): void;
  /** Records a level, e.g. the spare pool size. */
  gauge(name: string, value: number, dimensions?: Dimensions): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A metrics sink that drops everything. */
export const noMetrics: Metrics = { count: () => {}, gauge: () => {} };
