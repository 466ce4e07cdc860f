/** What a newcomer reads from the local run: log lines for people, and cycle lines that fit. */
import { describe, expect, it } from 'vitest';
import { consoleLogger, textLine } from '../../lib/local/console-logger.ts';
import { cycleLines } from '../../lib/local/cycle-summary.ts';

describe('no raw JSON log lines in the human output', () => {
  it('writes a warning as a short line, ids cut to the 8 characters the CLI prints', () => {
    const lines: string[] = [];
    consoleLogger('warn', (l) => lines.push(l)).warn('task failed', {
      type: 'CREATE',
      amphoraId: '2cc459a3-2415-44df-90c8-21aa3ad1d942',
      error: 'Unavailable: identity POST failed',
      receiveCount: 1,
    });
    expect(lines).toEqual([
      'warn   task failed  type=CREATE  amphora=2cc459a3  error="Unavailable: identity POST failed"  receiveCount=1',
    ]);
  });

  it('writes JSON lines with --log-format json, and nothing below the level', () => {
    const lines: string[] = [];
    const logger = consoleLogger('warn', (l) => lines.push(l), 'json');
    logger.info('ignored');
    logger.error('boom', { type: 'REMOVE' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'error',
      message: 'boom',
      type: 'REMOVE',
    });
  });

  it('leaves out undefined fields', () => {
    expect(textLine('info', 'x', { a: undefined, b: 'y' })).toBe('info   x  b=y');
  });
});

describe('no 125-column cycle lines', () => {
  const pool = 'READY 2/4  deploying 2/2  preserved 2/2  ERROR 1  removing 2';

  it('keeps a short cycle on one line', () => {
    expect(cycleLines(1, 'READY 4/4', 'nothing to do', 80)).toEqual([
      'cycle   1  READY 4/4  | nothing to do',
    ]);
  });

  it.each([80, 100])(
    'puts the decisions on a second line when they do not fit in %i columns',
    (width) => {
      const lines = cycleLines(12, pool, 'create ×2, fleet current, sweep', width);
      expect(lines).toEqual([`cycle  12  ${pool}`, '           | create ×2, fleet current, sweep']);
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(width);
    },
  );
});
