/**
 * Drives the operator CLI as a user does, for the end-to-end tiers: every command is
 * `functions/cli.ts` spawned through this process's Node (22, from node_modules) in a working
 * folder of its own, so that its `.local/` data is fresh; a `local` run can also be kept running
 * in the background while other commands join it.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { withFreeApiPort } from './cli-args.ts';

const run = promisify(execFile);

/** The CLI's entry point. */
export const CLI = join(import.meta.dirname, '../../functions/cli.ts');

/** What one CLI command printed, and its exit status. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A new empty working folder; `cleanup` removes every folder made so far. */
export function workFolders(prefix = 'housekeeper-e2e-') {
  const dirs: string[] = [];
  return {
    make(): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    cleanup(): void {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes the `--config` file a pool's commands use. */
export function writeConfig(dir: string, config: Record<string, unknown>, file = 'config.json') {
  writeFileSync(join(dir, file), JSON.stringify(config, null, 2));
}

/**
 * The CLI in `dir`: `housekeeper(...args)` runs one command to its end (never throws; a
 * failure is in the result) and `json(...args)` adds `--json` and parses stdout, throwing with
 * stderr when the command failed.
 * @param env the whole environment of the commands (default: this process's).
 */
export function cliIn(dir: string, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  const housekeeper = async (...args: string[]): Promise<CliResult> => {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', CLI, ...withFreeApiPort(args)],
        {
          cwd: dir,
          timeout: options.timeoutMs ?? 120_000,
          ...(options.env ? { env: options.env } : {}),
        },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const json = async (...args: string[]) => {
    const r = await housekeeper(...args, '--json');
    if (r.code !== 0) {
      throw new Error(`housekeeper ${args.join(' ')} --json exited ${r.code}: ${r.stderr}`);
    }
    return JSON.parse(r.stdout);
  };
  return { housekeeper, json };
}

/** A `housekeeper local` run in the background. */
export interface BackgroundRun {
  /** Everything it printed so far (stdout and stderr interleaved), one entry per line. */
  lines(): readonly string[];
  /** Whether the process has exited. */
  exited(): boolean;
  /** Stops it as Ctrl-C does and waits for it to exit (then kills it, after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Starts `housekeeper local ...args` in `dir`, collecting its output.
 * @param env the whole environment of the run (default: this process's).
 */
export function startLocal(
  dir: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
): BackgroundRun {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', CLI, ...withFreeApiPort(['local', ...args])],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) },
  );
  const lines: string[] = [];
  const partial = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
      const text = partial[stream] + chunk;
      const parts = text.split('\n');
      partial[stream] = parts.pop()!;
      lines.push(...parts);
    });
  }
  let exitCode: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exitCode = code;
      for (const stream of ['stdout', 'stderr'] as const) {
        if (partial[stream]) lines.push(partial[stream]);
        partial[stream] = '';
      }
      resolve(code);
    });
  });
  return {
    lines: () => lines,
    exited: () => exitCode !== undefined,
    async stop(timeoutMs = 60_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
