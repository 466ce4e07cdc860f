/**
 * Task messages between the planner and the executors. Each body carries a schema version and
 * is validated on receipt; a body that does not parse is a {@link MalformedTaskError}.
 */
import * as z from 'zod';
import type { AmphoraRecord } from './amphora.ts';
import { MalformedTaskError } from './errors.ts';

/** The schema version written into every message body. */
export const TASK_SCHEMA_VERSION = 1;

/**
 * Builds the schemas. Only {@link schemas} calls it, once, when a message is first decoded:
 * building zod schemas costs at cold start, and the planner only encodes.
 */
function buildSchemas() {
  const recordTask = z.strictObject({
    v: z.literal(TASK_SCHEMA_VERSION),
    type: z.enum(['CREATE', 'CHECK', 'REMOVE', 'PRESERVE']),
    taskId: z.string().min(1),
    issuedAt: z.number().int().nonnegative(),
    amphoraId: z.string().min(1),
    /** The record version the task was issued against; any other version makes it stale. */
    version: z.number().int().positive(),
  });

  const sweepTask = z.strictObject({
    v: z.literal(TASK_SCHEMA_VERSION),
    type: z.literal('SWEEP'),
    taskId: z.string().min(1),
    issuedAt: z.number().int().nonnegative(),
  });

  const resolveImageTask = z.strictObject({
    v: z.literal(TASK_SCHEMA_VERSION),
    type: z.literal('RESOLVE_IMAGE'),
    taskId: z.string().min(1),
    issuedAt: z.number().int().nonnegative(),
    /** The pool whose image tag to resolve. */
    pool: z.string().min(1),
  });

  return {
    recordTask,
    sweepTask,
    resolveImageTask,
    taskSchema: z.discriminatedUnion('type', [recordTask, sweepTask, resolveImageTask]),
  };
}

type Schemas = ReturnType<typeof buildSchemas>;
let built: Schemas | undefined;

function schemas(): Schemas {
  built ??= buildSchemas();
  return built;
}

/** A task on one amphora record. */
export type RecordTask = z.output<Schemas['recordTask']>;
/** The orphan sweep. */
export type SweepTask = z.output<Schemas['sweepTask']>;
/** The resolution of a pool's image tag to the newest active image. */
export type ResolveImageTask = z.output<Schemas['resolveImageTask']>;
/** Any task message. */
export type Task = z.output<Schemas['taskSchema']>;

/** A task to send, with an optional delivery delay. */
export interface OutgoingTask {
  readonly task: Task;
  readonly delaySeconds?: number;
}

/** The message of a record's pending task, against the record's current version. */
export function taskMessageFor(record: AmphoraRecord, taskId: string): RecordTask {
  if (!record.task) throw new TypeError(`amphora ${record.id} has no pending task`);
  return {
    v: TASK_SCHEMA_VERSION,
    type: record.task.type,
    taskId,
    issuedAt: record.task.issuedAt,
    amphoraId: record.id,
    version: record.version,
  };
}

/** Serialises a task to a message body. */
export function encodeTask(task: Task): string {
  return JSON.stringify(task);
}

/**
 * Parses and validates a message body.
 * @throws MalformedTaskError saying what is wrong, without echoing more than 200 characters.
 */
export function decodeTask(body: string): Task {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new MalformedTaskError(`task body is not JSON: ${preview(body)}`, { cause: error });
  }
  if (json && typeof json === 'object' && 'v' in json && json.v !== TASK_SCHEMA_VERSION) {
    throw new MalformedTaskError(
      `task schema version ${clip(JSON.stringify(json.v) ?? 'undefined', 40)} is not supported (expected ${TASK_SCHEMA_VERSION}): ${preview(body)}`,
    );
  }
  const result = schemas().taskSchema.safeParse(json);
  if (!result.success) {
    const why = result.error.issues
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; ');
    throw new MalformedTaskError(`task body is invalid (${clip(why, 200)}): ${preview(body)}`);
  }
  return result.data;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

function preview(body: string): string {
  return body.length > 200 ? `${JSON.stringify(body.slice(0, 200))}...` : JSON.stringify(body);
}
