/**
 * The task message codec: every valid task survives a round trip; every malformed body is a
 * MalformedTaskError saying what is wrong, without echoing a huge body back into the logs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HousekeeperError, MalformedTaskError } from '../../lib/domain/errors.ts';
import {
  decodeTask,
  encodeTask,
  type RecordTask,
  type SweepTask,
  TASK_SCHEMA_VERSION,
  type Task,
} from '../../lib/domain/tasks.ts';

const CHECK: RecordTask = {
  v: 1,
  type: 'CHECK',
  taskId: 't-1',
  issuedAt: 1_767_225_600_000,
  amphoraId: 'amp-1',
  version: 3,
};
const SWEEP: SweepTask = { v: 1, type: 'SWEEP', taskId: 't-2', issuedAt: 1_767_225_600_000 };

function malformed(body: string): MalformedTaskError {
  let outcome: unknown;
  try {
    outcome = decodeTask(body);
  } catch (error) {
    if (error instanceof MalformedTaskError) return error;
    throw error;
  }
  throw new Error(`expected ${body.slice(0, 100)} to be refused, got ${JSON.stringify(outcome)}`);
}

const body = (value: unknown) => JSON.stringify(value);
const without = <T extends object>(task: T, key: keyof T) => {
  const copy: Record<string, unknown> = { ...(task as Record<string, unknown>) };
  delete copy[key as string];
  return copy;
};

const recordTaskArb: fc.Arbitrary<RecordTask> = fc.record({
  v: fc.constant(TASK_SCHEMA_VERSION as 1),
  type: fc.constantFrom('CREATE', 'CHECK', 'REMOVE', 'PRESERVE'),
  taskId: fc.string({ minLength: 1 }),
  issuedAt: fc.maxSafeNat(),
  amphoraId: fc.string({ minLength: 1 }),
  version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
});
const sweepTaskArb: fc.Arbitrary<SweepTask> = fc.record({
  v: fc.constant(TASK_SCHEMA_VERSION as 1),
  type: fc.constant('SWEEP' as const),
  taskId: fc.string({ minLength: 1, unit: 'binary' }),
  issuedAt: fc.maxSafeNat(),
});
const taskArb: fc.Arbitrary<Task> = fc.oneof(recordTaskArb, sweepTaskArb);

describe('round trip', () => {
  it('decodes what it encodes, for any valid task (property)', () => {
    fc.assert(
      fc.property(taskArb, (task) => {
        // fast-check may build null-prototype records; compare plain copies
        expect(decodeTask(encodeTask(task))).toStrictEqual({ ...task });
      }),
      { numRuns: 500 },
    );
  });

  it.each<[string, Task]>([
    ['a record task', CHECK],
    ['a sweep', SWEEP],
  ])('encodes %s as its JSON, schema version included', (_, task) => {
    // Act
    const encoded = encodeTask(task);

    // Assess
    expect(JSON.parse(encoded)).toStrictEqual(task);
    expect(JSON.parse(encoded).v).toBe(TASK_SCHEMA_VERSION);
  });

  it('accepts fields in any order and surrounding whitespace', () => {
    // Act
    const task = decodeTask(
      ' {"version":3,"amphoraId":"amp-1","issuedAt":1767225600000,"taskId":"t-1","type":"CHECK","v":1}\n',
    );

    // Assess
    expect(task).toStrictEqual(CHECK);
  });
});

describe('rejections', () => {
  it.each<[string, string, RegExp]>([
    ['text that is not JSON', 'CHECK amp-1', /^task body is not JSON: "CHECK amp-1"$/],
    ['an empty body', '', /^task body is not JSON: ""$/],
    ['truncated JSON', '{"v":1,"type":"CHECK"', /^task body is not JSON: /],
    [
      'a newer schema version',
      body({ ...CHECK, v: 2 }),
      /^task schema version 2 is not supported \(expected 1\): /,
    ],
    [
      'schema version 0',
      body({ ...SWEEP, v: 0 }),
      /^task schema version 0 is not supported \(expected 1\): /,
    ],
    [
      'a schema version as a string',
      body({ ...CHECK, v: '1' }),
      /^task schema version "1" is not supported \(expected 1\): /,
    ],
    ['no schema version', body(without(CHECK, 'v')), /^task body is invalid \(v: /],
    [
      'an unknown type',
      body({ ...CHECK, type: 'REBOOT' }),
      /^task body is invalid \(type: .*CREATE.*CHECK.*REMOVE.*PRESERVE.*SWEEP/,
    ],
    ['no type', body(without(CHECK, 'type')), /^task body is invalid \(type: /],
    ['no taskId', body(without(CHECK, 'taskId')), /^task body is invalid \(taskId: /],
    ['an empty taskId', body({ ...CHECK, taskId: '' }), /^task body is invalid \(taskId: /],
    [
      'no amphoraId on a CHECK',
      body(without(CHECK, 'amphoraId')),
      /\(amphoraId: .*expected string/,
    ],
    [
      'no version on a REMOVE',
      body(without({ ...CHECK, type: 'REMOVE' }, 'version')),
      /\(version: /,
    ],
    ['version 0', body({ ...CHECK, version: 0 }), /\(version: .*>0/],
    ['a negative version', body({ ...CHECK, version: -1 }), /\(version: .*>0/],
    ['a fractional version', body({ ...CHECK, version: 1.5 }), /\(version: .*int/],
    ['a negative issuedAt', body({ ...CHECK, issuedAt: -1 }), /\(issuedAt: /],
    ['issuedAt as a string', body({ ...CHECK, issuedAt: '2026-01-01' }), /\(issuedAt: .*number/],
    [
      'an extra field on a record task',
      body({ ...CHECK, priority: 'high' }),
      /^task body is invalid \(\(body\): Unrecognized key: "priority"\)/,
    ],
    [
      'an amphoraId on a SWEEP',
      body({ ...SWEEP, amphoraId: 'amp-1' }),
      /^task body is invalid \(\(body\): Unrecognized key: "amphoraId"\)/,
    ],
    ['JSON null', 'null', /^task body is invalid \(\(body\): .*object/],
    ['a JSON array', '[1,2]', /^task body is invalid \(\(body\): .*object/],
    ['a JSON string', '"CHECK"', /^task body is invalid \(\(body\): .*object/],
  ])('refuses %s, saying what is wrong', (_, text, expected) => {
    // Act
    const error = malformed(text);

    // Assess
    expect(error).toBeInstanceOf(HousekeeperError);
    expect(error.name).toBe('MalformedTaskError');
    expect(error.message).toMatch(expected);
    expect(error.message.endsWith(`: ${JSON.stringify(text)}`)).toBe(true);
  });

  it('names every problem of a body with several', () => {
    // Act
    const error = malformed(body({ v: 1, type: 'CREATE', taskId: '', issuedAt: -5 }));

    // Assess
    expect(error.message).toMatch(/taskId: /);
    expect(error.message).toMatch(/issuedAt: /);
    expect(error.message).toMatch(/amphoraId: /);
    expect(error.message).toMatch(/version: /);
  });

  it('keeps the parser error as the cause of a body that is not JSON', () => {
    expect(malformed('{').cause).toBeInstanceOf(SyntaxError);
  });
});

describe('a huge body is not echoed in full', () => {
  const MAX_MESSAGE = 500;
  const manyKeys: Record<string, unknown> = { ...SWEEP };
  for (let i = 0; i < 2_000; i++) manyKeys[`extra${i}`] = i;

  it.each<[string, string]>([
    ['text that is not JSON', 'x'.repeat(100_000)],
    ['a record task with a huge extra field', body({ ...CHECK, padding: 'p'.repeat(100_000) })],
    ['a huge unknown type', body({ ...CHECK, type: 'T'.repeat(100_000) })],
    ['a huge schema version', body({ ...CHECK, v: 'V'.repeat(100_000) })],
    ['thousands of unknown fields', body(manyKeys)],
  ])('%s', (_, text) => {
    // Act
    const error = malformed(text);

    // Assess
    expect(error.message.length, error.message.slice(0, 300)).toBeLessThanOrEqual(MAX_MESSAGE);
  });

  it('shows the first 200 characters of the body, then an ellipsis', () => {
    // Prepare
    const text = `not json ${'y'.repeat(10_000)}`;

    // Act
    const error = malformed(text);

    // Assess
    expect(error.message).toBe(`task body is not JSON: ${JSON.stringify(text.slice(0, 200))}...`);
  });
});
