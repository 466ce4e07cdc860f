/**
 * A logger for local runs, on stderr from a minimum level up: one short human line per entry
 * (`warn  task failed  type=CREATE amphora=2cc459a3 error="…"`), or one JSON line in `json` format.
 */
import type { LogFields, Logger } from '../ports/telemetry.ts';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** A log level. */
export type Level = (typeof LEVELS)[number];

/** How entries are written: short human lines, or JSON lines (for tools). */
export type LogFormat = 'text' | 'json';

/** Field names shortened in text lines, and ids cut to the 8 characters the CLI prints. */
const SHORT: Readonly<Record<string, string>> = { amphoraId: 'amphora', taskId: 'task' };
const IDS = new Set(['amphoraId', 'taskId']);

function textValue(key: string, value: unknown): string {
  if (typeof value === 'string') {
    const v = IDS.has(key) ? value.slice(0, 8) : value;
    return /^[\w.:/@*-]+$/.test(v) ? v : JSON.stringify(v);
  }
  return JSON.stringify(value);
}

/** One entry as a human line: level, message, then `key=value` fields. */
export function textLine(level: Level, message: string, fields: LogFields = {}): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${SHORT[k] ?? k}=${textValue(k, v)}`);
  return [level.padEnd(5), message, ...parts].join('  ').trimEnd();
}

/** Builds a logger that writes entries at `min` or above to `write` (stderr by default). */
export function consoleLogger(
  min: Level = 'warn',
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  format: LogFormat = 'text',
): Logger {
  const at = (level: Level) => (message: string, fields?: LogFields) => {
    if (LEVELS.indexOf(level) < LEVELS.indexOf(min)) return;
    write(
      format === 'json'
        ? JSON.stringify({ level, time: new Date().toISOString(), message, ...fields })
        : textLine(level, message, fields),
    );
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
