import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ownerAlive,
  processStartTime,
  readOwner,
  takeLocalOwnership,
  thisProcess,
} from '../../lib/local/local-owner.ts';

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'housekeeper-owner-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A PID no process has: above Linux's pid_max ceiling (2^22). */
const DEAD_PID = 4_194_305;

describe('who owns the local data', () => {
  it('reads a start time for this process where the system has /proc, and none for a dead PID', () => {
    expect(processStartTime(DEAD_PID)).toBeUndefined();
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
  });

  it.each([
    ['this very process', () => thisProcess('test'), true],
    ['a PID that no process has', () => ({ pid: DEAD_PID, purpose: 'x' }), false],
    [
      'this PID, but started at another time (the PID was reused)',
      () => ({ pid: process.pid, startedAt: '1', purpose: 'x' }),
      false,
    ],
    ['this PID, recorded without a start time', () => ({ pid: process.pid, purpose: 'x' }), true],
  ])('%s → alive: %s', (_name, owner, alive) => {
    expect(ownerAlive(owner())).toBe(alive);
  });
});

describe('taking the local data', () => {
  it('takes free data, records this process, and gives it up', async () => {
    const dir = freshDir();
    const release = await takeLocalOwnership({ dir, purpose: 'a test', waitMs: 0, say: () => {} });
    expect(readOwner(dir)).toEqual(thisProcess('a test'));
    expect(typeof release).toBe('function');
    (release as () => void)();
    expect(readOwner(dir)).toBeUndefined();
  });

  it.each([
    ['whose process is gone', { pid: DEAD_PID, purpose: 'npm start' }],
    [
      'whose PID now belongs to another process',
      { pid: process.pid, startedAt: '1', purpose: 'npm start' },
    ],
  ])('replaces an owner record %s, saying so', async (_name, stale) => {
    const dir = freshDir();
    writeFileSync(join(dir, 'owner.json'), JSON.stringify(stale));
    const said: string[] = [];

    await takeLocalOwnership({ dir, purpose: 'a test', waitMs: 0, say: (m) => said.push(m) });

    expect(said).toEqual([
      expect.stringContaining(
        `replacing a stale owner of the local data: pid ${stale.pid} (npm start)`,
      ),
    ]);
    expect(readOwner(dir)?.purpose).toBe('a test');
  });

  it('waits for a live owner with a message, then gives up naming it, leaving its record alone', async () => {
    const dir = freshDir();
    const live = thisProcess('housekeeper cycle');
    writeFileSync(join(dir, 'owner.json'), JSON.stringify(live));
    const said: string[] = [];

    await expect(
      takeLocalOwnership({
        dir,
        purpose: 'a test',
        waitMs: 300,
        pollMs: 50,
        say: (m) => said.push(m),
      }),
    ).rejects.toThrow(
      `the local data is in use by pid ${process.pid} (housekeeper cycle) and stayed so for 0 s`,
    );
    expect(said).toEqual([
      `waiting for pid ${process.pid} (housekeeper cycle), which has the local data open…`,
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8'))).toEqual(live);
  });

  it('takes the data as soon as the owner gives it up', async () => {
    const dir = freshDir();
    const first = (await takeLocalOwnership({
      dir,
      purpose: 'first',
      waitMs: 0,
      say: () => {},
    })) as () => void;
    setTimeout(first, 150);

    const second = await takeLocalOwnership({
      dir,
      purpose: 'second',
      waitMs: 5_000,
      pollMs: 20,
      say: () => {},
    });

    expect(typeof second).toBe('function');
    expect(readOwner(dir)?.purpose).toBe('second');
  });

  it('joins instead when a local run starts meanwhile', async () => {
    const dir = freshDir();
    writeFileSync(join(dir, 'owner.json'), JSON.stringify(thisProcess('the local run')));

    expect(
      await takeLocalOwnership({
        dir,
        purpose: 'x',
        waitMs: 5_000,
        say: () => {},
        joinable: () => true,
      }),
    ).toBe('join');
  });
});
