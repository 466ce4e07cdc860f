#!/usr/bin/env node
/**
 * The operator CLI, `housekeeper`. A composition root: it reads the environment and files,
 * builds the stack, and calls the use cases in `lib/`.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { statusLine } from '../lib/app/pool-status.ts';
import { ConfigError, type HousekeeperConfig, parseConfig } from '../lib/config/schema.ts';
import { HousekeeperError } from '../lib/domain/errors.ts';
import { consoleLogger } from '../lib/local/console-logger.ts';
import { decisionSummary, taskLine } from '../lib/local/cycle-summary.ts';
import { LOCAL_CONFIG, LOCAL_PLANNER_EVERY_SECONDS } from '../lib/local/local-config.ts';
import { runLocal } from '../lib/local/local-runner.ts';
import { seededRandom } from '../lib/local/random.ts';
import { memoryStack } from './memory-stack.ts';

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(
        `${name} = ${JSON.stringify(value)}: must be a whole number of at least 1`,
      );
    }
    return n;
  };
}

/** The local configuration, with a JSON file's options on top. */
function localConfig(file: string | undefined): HousekeeperConfig {
  let overrides: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new HousekeeperError(`--config ${file}: cannot be read (${(error as Error).message})`);
    }
    try {
      overrides = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new HousekeeperError(
        `--config ${file}: is not valid JSON (${(error as Error).message})`,
      );
    }
  }
  return parseConfig({ ...LOCAL_CONFIG, ...overrides });
}

const program = new Command('housekeeper')
  .description('amphora-housekeeper: keeps spare Octavia amphorae ready, and tidies up failed ones')
  .showHelpAfterError();

program
  .command('local')
  .description(
    'run the planner and executors locally with the noop driver, printing the pool each cycle',
  )
  .option(
    '--cycles <n>',
    'stop after n planner cycles and print the final pool as JSON',
    positiveInt('--cycles'),
  )
  .option(
    '--every <seconds>',
    'seconds between planner cycles',
    positiveInt('--every'),
    LOCAL_PLANNER_EVERY_SECONDS,
  )
  .option('--config <file>', 'JSON file of options overriding the local defaults')
  .option('--seed <n>', 'seed of the simulated workload and boot failures', positiveInt('--seed'))
  .option('--no-workload', 'do not simulate load balancers claiming and handing back amphorae')
  .addOption(
    new Option('--log-level <level>', 'log level on stderr')
      .choices(['debug', 'info', 'warn', 'error'])
      .default('warn'),
  )
  .action(async (opts) => {
    const config = localConfig(opts.config);
    const random = opts.seed ? seededRandom(opts.seed) : Math.random;
    const stack = memoryStack(config, consoleLogger(opts.logLevel), random);
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    // With --cycles the final JSON goes to stdout, so progress goes to stderr.
    const out = (line: string) =>
      (opts.cycles ? process.stderr : process.stdout).write(`${line}\n`);
    out(
      `amphora-housekeeper local run: noop driver, ${config.spare_amphora_pool_size} spares per zone, ` +
        `≤ ${config.maximum_deploying_amphora_count} deploying, ${config.maximum_preserved_amphora_count} preserved ` +
        `(${config.preservation_scheme}, ${config.preservation_method}); a cycle every ${opts.every} s` +
        (opts.cycles ? `, ${opts.cycles} cycles` : '; Ctrl-C to stop'),
    );
    const final = await runLocal(stack, {
      ...(opts.cycles ? { cycles: opts.cycles } : {}),
      plannerEverySeconds: opts.every,
      ...(opts.workload ? { workload: { random } } : {}),
      signal: controller.signal,
      onTask: (r) => {
        const line = taskLine(r);
        if (line) out(line);
      },
      onCycle: (n, report, status) => {
        out(`cycle ${String(n).padStart(3)}  ${statusLine(status)}   | ${decisionSummary(report)}`);
      },
    });
    if (opts.cycles) process.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || error instanceof HousekeeperError) {
    process.stderr.write(`housekeeper: ${error.message}\n`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
