/** A logger for local runs: one JSON line per entry on stderr, from a minimum level up. */
import type { LogFields, Logger } from '../ports/telemetry.ts';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** A log level. */
export type Level = (typeof LEVELS)[number];

/** Builds a logger that writes entries at `min` or above to `write` (stderr by default). */
export function consoleLogger(
  min: Level = 'warn',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const at = (level: Level) => (message: string, fields?: LogFields) => {
    if (LEVELS.indexOf(level) < LEVELS.indexOf(min)) return;
    write(JSON.stringify({ level, time: new Date().toISOString(), message, ...fields }));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
