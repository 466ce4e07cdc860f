/**
 * The API's request bodies and parameters as zod schemas (strict: an unknown field is refused),
 * and the translation of zod's issues into {@link FieldIssue}s that name the field, the rule and
 * the value. docs/api/openapi.yaml describes the same shapes; test/unit/api-openapi.test.ts
 * holds the two together.
 */
import * as z from 'zod';
import type { FieldIssue } from './http.ts';

/** Longest pool or zone name accepted. */
export const MAX_NAME_LENGTH = 128;
/** Longest failure reason accepted. */
export const MAX_REASON_LENGTH = 1000;
/** Longest amphora id accepted in a path. */
export const MAX_ID_LENGTH = 128;
/** Idempotency keys: 1 to 128 visible ASCII characters (a UUID is the usual choice). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;
/** Amphora ids in paths: letters, digits, `.`, `_` and `-`. */
export const AMPHORA_ID_PATTERN = /^[A-Za-z0-9._-]+$/;

const name = (what: string) =>
  z
    .string({ error: `must be a string (a ${what} name)` })
    .min(1, { error: `must be a non-empty ${what} name` })
    .max(MAX_NAME_LENGTH, { error: `must be at most ${MAX_NAME_LENGTH} characters` });

/** `POST /claims`. */
export const ClaimBody = z.strictObject(
  { pool: name('pool').optional(), zone: name('zone').optional() },
  { error: 'must be a JSON object' },
);
/** The body of a claim. */
export type ClaimBody = z.infer<typeof ClaimBody>;

/** `POST /amphorae/{id}/failure`. */
export const FailureBody = z.strictObject(
  {
    reason: z
      .string({ error: 'is required: a string saying what failed' })
      .min(1, { error: 'must be a non-empty string' })
      .max(MAX_REASON_LENGTH, { error: `must be at most ${MAX_REASON_LENGTH} characters` }),
  },
  { error: 'must be a JSON object' },
);
/** The body of a failure report. */
export type FailureBody = z.infer<typeof FailureBody>;

/** `POST /amphorae/{id}/release` and `/preserve`: nothing, or `{}`. */
export const EmptyBody = z.strictObject({}, { error: 'must be a JSON object' });

/** The `{id}` of `/amphorae/{id}...`: a whole amphora id (prefixes are not resolved). */
export const AmphoraId = z
  .string()
  .min(1, { error: 'must be a non-empty amphora id' })
  .max(MAX_ID_LENGTH, { error: `must be at most ${MAX_ID_LENGTH} characters` })
  .regex(AMPHORA_ID_PATTERN, { error: 'may hold only letters, digits, ".", "_" and "-"' });

function fieldOf(prefix: string, path: readonly PropertyKey[]): string {
  return [prefix, ...path.map(String)].join('.');
}

/** The issues of a failed parse, one per field (an unknown key is one issue of its own). */
export function issuesOf(prefix: string, error: z.ZodError): FieldIssue[] {
  return error.issues.flatMap((issue): FieldIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      const parent = issue.input as Record<string, unknown> | undefined;
      return issue.keys.map((key) => ({
        field: fieldOf(prefix, [...issue.path, key]),
        rule: 'is not a known field',
        ...(parent && key in parent ? { value: parent[key] } : {}),
      }));
    }
    return [
      {
        field: fieldOf(prefix, issue.path),
        rule: issue.message,
        ...(issue.input !== undefined ? { value: issue.input } : {}),
      },
    ];
  });
}

/** Parses `value` with `schema`, reporting each bad field under `prefix` (`body`, `path.id`). */
export function parseWith<T>(
  schema: z.ZodType<T>,
  prefix: string,
  value: unknown,
): { ok: true; value: T } | { ok: false; issues: FieldIssue[] } {
  const result = schema.safeParse(value, { reportInput: true });
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: issuesOf(prefix, result.error) };
}

/** One line per issue: `body.pool: must be a string (a pool name), got 5`. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues
    .map(
      (i) =>
        `${i.field}: ${i.rule}${'value' in i ? `, got ${truncate(JSON.stringify(i.value) ?? String(i.value))}` : ''}`,
    )
    .join('; ');
}

function truncate(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
