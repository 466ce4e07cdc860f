/**
 * The CLI's three output formats (`-o json|yaml|table`), its tables and its colours. Tables are
 * cli-table3 without borders (a header row, columns two spaces apart, as kubectl prints them);
 * colours are picocolors, switched on by the caller (only functions/ reads the environment).
 */
import Table from 'cli-table3';
import pc from 'picocolors';
import YAML from 'yaml';

export type OutputFormat = 'json' | 'yaml' | 'table';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

/** Colour functions; {@link PLAIN} writes no escape codes at all. */
export type Style = ReturnType<typeof pc.createColors>;
export const PLAIN: Style = pc.createColors(false);

/** Colours for a stream, by the usual conventions: NO_COLOR wins, then FORCE_COLOR, then a TTY. */
export function styleFor(env: Readonly<Record<string, string | undefined>>, isTTY: boolean): Style {
  const no = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const force = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  return pc.createColors(!no && (force || (isTTY && env.TERM !== 'dumb')));
}

/**
 * A header row, then one row per entry, columns aligned (colour codes do not count to widths),
 * no borders and no trailing blanks.
 */
export function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  style: Style = PLAIN,
  indent = '',
): string {
  const t = new Table({
    head: head.map((h) => style.bold(h)),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
  });
  t.push(...rows.map((r) => [...r]));
  return t
    .toString()
    .split('\n')
    .map((line) => `${indent}${line}`.trimEnd())
    .join('\n');
}

/** A time field (epoch ms as stored): `at`, `…At`, `since`, `stateSince`, `until`. */
function isTimeKey(key: string): boolean {
  return key.endsWith('At') || ['at', 'since', 'stateSince', 'until'].includes(key);
}

function shaped(key: string, value: unknown): unknown {
  if (typeof value === 'number' && isTimeKey(key)) return new Date(value).toISOString();
  if (Array.isArray(value)) return value.map((v) => shaped('', v));
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .filter((k) => obj[k] !== undefined)
        .map((k) => [k, shaped(k, obj[k])]),
    );
  }
  return value;
}

/** A value for JSON: every time an ISO 8601 string, object keys sorted, no undefined fields. */
export function jsonShape(value: unknown): unknown {
  return shaped('', value);
}

/** One field's value for JSON, by its key (a time key's epoch ms become ISO 8601). */
export function jsonField(key: string, value: unknown): unknown {
  return shaped(key, value);
}

/** A command's output in one format: its JSON shape, as JSON or YAML, or its table. */
export function render(format: OutputFormat, value: unknown, asTable: () => string): string {
  if (format === 'json') return JSON.stringify(value, null, 2);
  if (format === 'yaml') return YAML.stringify(value).trimEnd();
  return asTable();
}
