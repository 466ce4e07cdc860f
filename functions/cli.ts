#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * The operator CLI, `housekeeper`. A composition root: it reads the environment and files,
 * opens a stack (the local one, or a deployed one with `--target aws`) and calls the use cases.
 */
import { readFileSync } from 'node:fs';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import tab from '@bomb.sh/tab/commander';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createSpinner } from 'nanospinner';
import { MemoryIdempotencyStore } from '../lib/adapters/memory/memory-idempotency-store.ts';
import { HousekeeperApiClient } from '../lib/api/client.ts';
import { checkPortFree } from '../lib/api/node-server.ts';
import { apiDoor, inProcessDoor, type PoolDoor } from '../lib/api/pool-door.ts';
import { consumeBatch } from '../lib/app/consume-messages.ts';
import { DEACTIVATED_RESULTS, resolveAmphora, retryFailed } from '../lib/app/operator-actions.ts';
import { statusLine, viewOf } from '../lib/app/pool-status.ts';
import { runPlannerCycle } from '../lib/app/run-planner-cycle.ts';
import { ENV } from '../lib/config/deployment.ts';
import { ConfigError, ConfigSourceError, type HousekeeperConfig } from '../lib/config/schema.ts';
import { AMPHORA_STATES, type AmphoraState, oldestFirst } from '../lib/domain/amphora.ts';
import { viewDeadLetter } from '../lib/domain/dead-letters.ts';
import { DRIVER_ERROR_KINDS, HousekeeperError } from '../lib/domain/errors.ts';
import { countOf, withoutZeros } from '../lib/domain/pool.ts';
import {
  type FaultRule,
  NOOP_OPERATIONS,
  type NoopOperation,
} from '../lib/drivers/noop/noop-driver.ts';
import { consoleLogger, type Level, type LogFormat } from '../lib/local/console-logger.ts';
import { cycleLines, decisionSummary, taskLine } from '../lib/local/cycle-summary.ts';
import {
  formatDeadLetters,
  formatFaults,
  formatList,
  formatPlan,
  formatRecord,
  formatStatus,
  planJson,
  recordJson,
} from '../lib/local/format.ts';
import { DEFAULT_API_PORT, type LocalApi, startLocalApi } from '../lib/local/local-api.ts';
import {
  LOCAL_CONFIG,
  LOCAL_DEFAULTS_SOURCE,
  LOCAL_PLANNER_EVERY_SECONDS,
  localConfig,
} from '../lib/local/local-config.ts';
import { type LocalStack, runLocal } from '../lib/local/local-runner.ts';
import { OUTPUT_FORMATS, type OutputFormat, render, styleFor } from '../lib/local/output.ts';
import { seededRandom } from '../lib/local/random.ts';
import { describeUnexpected } from '../lib/local/unexpected.ts';
import {
  checkLocalDataDriver,
  type OpenStack,
  openAwsStack,
  openLocalStack,
  poolInUse,
  readJsonObject,
  refuseSecondRun,
  savedConfigFile,
  savedLocalConfig,
  saveLocalConfig,
} from './local-stack.ts';
import { memoryStack } from './memory-stack.ts';
import { stackEnvironment } from './stack-outputs.ts';

/** The pools of a configuration in one phrase, for banners. */
function describePools(config: HousekeeperConfig): string {
  return config.pools
    .map((p) => {
      const zones =
        p.zones.length === 1 && p.zones[0]!.name === '*' ? '' : ` × ${p.zones.length} zones`;
      return `pool ${p.name}: ${p.spare_amphora_pool_size} spares${zones}`;
    })
    .join('; ');
}

function wholeNumber(name: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(
        `${name} = ${JSON.stringify(value)}: must be a whole number of at least ${min}`,
      );
    }
    return n;
  };
}

function portNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65_535 || value.trim() === '') {
      throw new InvalidArgumentError(
        `${name} = ${JSON.stringify(value)}: must be a port number from 0 (any free port) to 65535`,
      );
    }
    return n;
  };
}

function nonEmpty(name: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${name} must not be empty`);
    return value;
  };
}

function readJsonFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigSourceError(`--config ${file}: cannot be read (${(error as Error).message})`);
  }
  return readJsonObject(`--config ${file}`, text);
}

/** The `--config` file as the top layer of a configuration. */
function fileLayer(file: string | undefined) {
  return {
    overrides: readJsonFile(file),
    ...(file ? { overridesSource: `--config ${file}` } : {}),
  };
}

interface StackOptions {
  target: 'local' | 'aws';
  stack?: string;
  config?: string;
  logLevel: Level;
  logFormat: LogFormat;
}

/**
 * Opens the stack a command works on; the caller closes it. Only with `executors` (a command
 * that runs tasks here) is the driver built, and the openstack one's credentials read.
 */
async function open(opts: StackOptions, executors = false): Promise<OpenStack> {
  const logger = consoleLogger(opts.logLevel, undefined, opts.logFormat);
  if (opts.stack !== undefined && opts.target !== 'aws') {
    throw new HousekeeperError(`--stack ${opts.stack}: only with --target aws`);
  }
  if (opts.target === 'aws') {
    // The stack's own table, queues and configuration win over the shell's variables.
    const env = opts.stack
      ? { ...process.env, ...(await stackEnvironment(opts.stack)) }
      : process.env;
    const { overrides, overridesSource } = fileLayer(opts.config);
    return openAwsStack({
      config: overrides,
      ...(overridesSource ? { configSource: overridesSource } : {}),
      logger,
      env,
    });
  }
  const saved = savedLocalConfig();
  const { config } = localConfig(process.env, {
    defaults: saved ?? LOCAL_CONFIG,
    defaultsSource: saved ? `${savedConfigFile()} (the last local run’s)` : LOCAL_DEFAULTS_SOURCE,
    ...fileLayer(opts.config),
  });
  let spinner: Spinner | undefined;
  return openLocalStack({
    config,
    logger,
    env: process.env,
    executors,
    // Starting DynamoDB Local takes seconds: a spinner says so to a person watching.
    progress: (m: string) => {
      spinner = progress(m);
    },
  }).then(
    (stack) => {
      spinner?.success();
      return stack;
    },
    (error: unknown) => {
      spinner?.stop();
      throw error;
    },
  );
}

/** The region of a Lambda function URL (`https://ID.lambda-url.REGION.on.aws`), if it is one. */
function regionOfFunctionUrl(url: string): string | undefined {
  return /\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(new URL(url).hostname)?.[1];
}

/**
 * The door of claim, deactivate, flag, preserve and status: for a deployed stack the claims API
 * (SigV4-signed with the default AWS credentials), as other services call it; locally the use
 * cases in this process.
 * @throws HousekeeperError when the deployed stack's API URL or region is unknown.
 */
function doorOf(s: OpenStack, opts: StackOptions, command: string): PoolDoor {
  if (opts.target !== 'aws') return inProcessDoor(s);
  if (opts.config !== undefined) {
    throw new HousekeeperError(
      `--config ${opts.config}: ${command} --target aws goes through the claims API, which runs with the deployed configuration; drop --config`,
    );
  }
  if (!s.apiUrl) {
    throw new HousekeeperError(
      `${command} --target aws goes through the claims API, and its URL is unknown: name the stack with --stack (its API function's URL is read), or set ${ENV.apiUrl} (\`aws lambda get-function-url-config --function-name <ApiFunctionName output>\`)`,
    );
  }
  const region =
    regionOfFunctionUrl(s.apiUrl) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new HousekeeperError(
      `${ENV.apiUrl} = ${s.apiUrl}: not a Lambda function URL, so the signing region must come from AWS_REGION, which is not set`,
    );
  }
  const client = new HousekeeperApiClient({
    baseUrl: s.apiUrl,
    signing: { region, credentials: defaultProvider() },
  });
  return apiDoor(client, s);
}

type Spinner = ReturnType<typeof createSpinner>;

/**
 * A spinner on stderr while something takes seconds, only when a person watches (stderr and
 * stdout are terminals: nanospinner draws by stdout's kind), never in CI or a pipe.
 */
function progress(text: string): Spinner | undefined {
  if (!process.stderr.isTTY || !process.stdout.isTTY || 'CI' in process.env) return undefined;
  return createSpinner(text, { stream: process.stderr }).start();
}

/** Writes a line while a spinner may be drawn: the spinner is cleared, then drawn again below. */
function above(spinner: Spinner | undefined, write: () => void): void {
  spinner?.clear();
  write();
  if (spinner?.isSpinning()) spinner.render();
}

/** Runs `body` on an opened stack, always closing it. */
async function withStack(
  opts: StackOptions,
  body: (s: OpenStack) => Promise<void>,
  executors = false,
) {
  const stack = await open(opts, executors);
  try {
    await body(stack);
  } finally {
    await stack.close();
  }
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Colours for stdout: none with NO_COLOR, in a pipe or a file, or in CI without FORCE_COLOR. */
const style = styleFor(process.env, process.stdout.isTTY === true);

interface OutputOptions {
  output: OutputFormat;
}

/** Prints a command's result: its JSON shape as JSON or YAML, or its table for people. */
function emit(opts: OutputOptions, value: unknown, asTable: () => string): void {
  print(render(opts.output, value, asTable));
}

/** A remark for people: on stdout under a table, on stderr when stdout carries JSON or YAML. */
function remark(opts: OutputOptions, line: string): void {
  if (opts.output === 'table') print(line);
  else process.stderr.write(`housekeeper: ${line}\n`);
}

/** Adds `-o json|yaml|table` and its alias `--json` to a command that prints something. */
function withOutput(command: Command): Command {
  return command
    .addOption(
      new Option(
        '-o, --output <format>',
        'print a table, or the documented JSON shape as JSON or YAML',
      )
        .choices([...OUTPUT_FORMATS])
        .default('table'),
    )
    .addOption(new Option('--json', 'the same as -o json').implies({ output: 'json' }));
}

/** Adds the options every command that opens a stack takes. */
function withStackOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--target <target>',
        'the local stack, or the deployed one named by HOUSEKEEPER_* variables',
      )
        .choices(['local', 'aws'])
        .default('local'),
    )
    .option(
      '--stack <name>',
      'with --target aws: find the table, queues and configuration from this CloudFormation stack',
    )
    .option(
      '--config <file>',
      'JSON file of options, over the HOUSEKEEPER_* variables and the local (or deployed) configuration',
    )
    .addOption(logLevelOption())
    .addOption(logFormatOption());
}

function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level on stderr')
    .choices(['debug', 'info', 'warn', 'error'])
    .default('warn');
}

function logFormatOption(): Option {
  return new Option('--log-format <format>', 'log lines for people, or JSON lines for tools')
    .choices(['text', 'json'])
    .default('text');
}

function stackCommand(name: string, description: string): Command {
  return withOutput(withStackOptions(program.command(name).description(description)));
}

/** Exit status of a usage error (unknown command or option, bad option value): sysexits' EX_USAGE. */
const EXIT_USAGE = 64;

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const program = new Command('housekeeper')
  .description('amphora-housekeeper: keeps spare Octavia amphorae ready, and tidies up failed ones')
  .version(version)
  .option('--debug', 'show the stack trace of an unexpected error')
  .showHelpAfterError()
  // Every command inherits this: usage errors are thrown, and exit with their own status.
  .exitOverride();

// -- local run ------------------------------------------------------------------------------------

program
  .command('local')
  .description(
    'run the planner and executors locally (DynamoDB Local and SQS emulators, data in .local/, noop driver by default), printing the pool each cycle',
  )
  .option(
    '--cycles <n>',
    'stop after n planner cycles and print the final pool as JSON',
    wholeNumber('--cycles'),
  )
  .option(
    '--every <seconds>',
    'seconds between planner cycles',
    wholeNumber('--every'),
    LOCAL_PLANNER_EVERY_SECONDS,
  )
  .option('--config <file>', 'JSON file of options, over the local defaults and HOUSEKEEPER_*')
  .option('--seed <n>', 'seed of the simulated workload and boot failures', wholeNumber('--seed'))
  .option('--no-workload', 'do not simulate load balancers claiming and handing back amphorae')
  .option('--memory', 'keep everything in this process instead of the emulators (nothing persists)')
  .option(
    '--api-port <n>',
    'loopback port of the claims API (0: any free port)',
    portNumber('--api-port'),
    DEFAULT_API_PORT,
  )
  .addOption(logLevelOption())
  .addOption(logFormatOption())
  .action(async (opts) => {
    const { config, raw } = localConfig(process.env, {
      defaults: LOCAL_CONFIG,
      defaultsSource: LOCAL_DEFAULTS_SOURCE,
      ...fileLayer(opts.config),
    });
    const random = opts.seed ? seededRandom(opts.seed) : Math.random;
    const logger = consoleLogger(opts.logLevel, undefined, opts.logFormat);
    // With --cycles the final JSON goes to stdout, so progress goes to stderr.
    const out = (line: string) =>
      (opts.cycles ? process.stderr : process.stdout).write(`${line}\n`);
    let stack: OpenStack;
    let executor: Pick<LocalStack, 'driver' | 'source'>;
    // The port is checked before the emulators start, so that a taken one fails fast.
    await checkPortFree(opts.apiPort);
    if (opts.memory) {
      const m = memoryStack(config, logger, process.env, random);
      stack = { ...m, description: 'memory', executorsRunning: true, close: async () => {} };
      executor = m;
    } else {
      refuseSecondRun();
      checkLocalDataDriver(config.driver);
      const starting = 'starting DynamoDB Local (data in .local/dynamodb) and the SQS emulator...';
      const spinner = opts.cycles ? progress(starting) : undefined;
      if (!spinner) out(starting);
      try {
        stack = await openLocalStack({ config, logger, env: process.env, serve: true, random });
      } finally {
        spinner?.success();
      }
      try {
        checkLocalDataDriver(config.driver, undefined, await poolInUse(stack.store));
      } catch (error) {
        await stack.close();
        throw error;
      }
      saveLocalConfig(raw);
      executor = stack.executor!;
    }
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let api: LocalApi | undefined;
    try {
      api = await startLocalApi(stack, {
        port: opts.apiPort,
        idempotency: stack.idempotency ?? new MemoryIdempotencyStore(),
        onCycles: (reports) => {
          for (const r of reports) out(`  planner run the API asked for | ${decisionSummary(r)}`);
        },
      });
      out(
        `claims API on ${api.url} (unsigned locally; e.g. curl -X POST ${api.url}/claims -H 'Idempotency-Key: '$(uuidgen))`,
      );
      out(
        `amphora-housekeeper local run ${opts.memory ? 'in memory' : 'on the emulators (data in .local/)'}: ${config.driver} driver, ${describePools(config)}, ` +
          `≤ ${config.maximum_deploying_amphora_count} deploying, ${config.maximum_preserved_amphora_count} preserved ` +
          `(${config.preservation_scheme}, ${config.preservation_method}); a cycle every ${opts.every} s` +
          (opts.cycles
            ? `, ${opts.cycles} cycle${opts.cycles === 1 ? '' : 's'}`
            : '; Ctrl-C to stop'),
      );
      const final = await runLocal(
        { ...stack, ...executor },
        {
          ...(opts.cycles ? { cycles: opts.cycles } : {}),
          plannerEverySeconds: opts.every,
          // The emulated queue does not persist: tasks the last run left waiting are re-issued.
          freshQueue: !opts.memory,
          ...(opts.workload ? { workload: { random } } : {}),
          signal: controller.signal,
          onTask: (r) => {
            const line = taskLine(r);
            if (line) out(line);
          },
          onCycle: (n, report, status) => {
            const width = (opts.cycles ? process.stderr : process.stdout).columns || 80;
            for (const line of cycleLines(n, statusLine(status), decisionSummary(report), width))
              out(line);
          },
        },
      );
      if (opts.cycles) printJson(final);
      else out('stopped; the pool stays in .local/ (`npx housekeeper status` shows it)');
    } finally {
      await api?.close();
      await stack.close();
    }
  });

// -- inspection -----------------------------------------------------------------------------------

stackCommand(
  'status',
  'show the pool: spares against target, every state, the preserved queue, what waits for an operator',
).action(async (opts) =>
  withStack(opts, async (s) => {
    const [status, depths] = await Promise.all([
      doorOf(s, opts, 'status').status(),
      s.deadLetters.depths(),
    ]);
    const queues = { tasks: depths.queue, deadLetter: depths.deadLetter };
    emit(
      opts,
      { ...status, queues },
      () =>
        `${formatStatus(status, s.description, { now: s.clock.now(), style })}\n\n  queue ${queues.tasks} task(s) waiting   dead-letter queue ${queues.deadLetter}${queues.deadLetter > 0 ? style.red(' (`housekeeper dlq list`, then `housekeeper dlq redrive --all`)') : ''}`,
    );
  }),
);

stackCommand('list', 'list amphorae, oldest in their state first')
  .addOption(new Option('--state <state>', 'only this state').choices([...AMPHORA_STATES]))
  .option('--pool <pool>', 'only this pool')
  .option('--zone <zone>', 'only this availability zone')
  .option('--limit <n>', 'at most n amphorae in all', wholeNumber('--limit'), 100)
  .action(async (opts) =>
    withStack(opts, async (s) => {
      const states: AmphoraState[] = opts.state ? [opts.state] : [...AMPHORA_STATES];
      const { counts } = await s.store.getPoolState();
      const pools = (opts.pool ? [opts.pool] : Object.keys(counts)).sort();
      const lists = await Promise.all(
        pools.flatMap((pool) =>
          states
            .filter((st) => countOf(counts, [st], { pool }) > 0 || opts.pool !== undefined)
            .map((st) =>
              s.store.listByState(pool, st, {
                limit: opts.limit,
                ...(opts.zone ? { zone: opts.zone } : {}),
              }),
            ),
        ),
      );
      const records = lists.flat().sort(oldestFirst).slice(0, opts.limit);
      emit(opts, records.map(recordJson), () => formatList(records.map(viewOf), style));
    }),
  );

stackCommand('show', 'show one amphora with its history')
  .argument('<id>', 'amphora id (or a unique prefix)')
  .action(async (id: string, opts) =>
    withStack(opts, async (s) => {
      const record = await resolveAmphora(s.store, id);
      emit(opts, recordJson(record), () => formatRecord(record));
    }),
  );

// -- the planner ------------------------------------------------------------------------------------

stackCommand(
  'plan',
  'dry-run the next planner cycle: show what it would decide, change nothing',
).action(async (opts) =>
  withStack(opts, async (s) => {
    const report = await runPlannerCycle(
      { ...s, holder: `cli-plan-${process.pid}` },
      { dryRun: true },
    );
    if (report.status === 'lease-busy')
      throw new HousekeeperError('a planner cycle is running right now; try again in a moment');
    emit(opts, planJson(report.plan), () =>
      formatPlan(report.plan, `next cycle on ${s.description} (dry run):`, style),
    );
  }),
);

stackCommand('cycle', 'run one planner cycle now')
  .option(
    '--reissue',
    're-issue every pending task now, not after task_timeout (after a queue lost its messages)',
  )
  .option(
    '--drain',
    'then run the executors in this process until the queue is quiet (local, no local run active)',
  )
  .action(async (opts) =>
    withStack(
      opts,
      async (s) => {
        const report = await runPlannerCycle(
          { ...s, holder: `cli-cycle-${process.pid}` },
          {
            // With --drain and no local run, this command's queue starts empty: every task the
            // records wait on was lost with an earlier command's queue, so it is sent again.
            reissuePendingTasks:
              opts.reissue === true ||
              (opts.drain === true && s.executor !== undefined && !s.executorsRunning),
          },
        );
        if (report.status === 'lease-busy')
          throw new HousekeeperError('a planner cycle is running right now; try again in a moment');
        const shape = {
          status: report.status,
          tasksSent: report.tasksSent,
          requested: report.requested,
          plan: planJson(report.plan),
        };
        const table = opts.output === 'table';
        if (table)
          print(
            formatPlan(
              report.plan,
              `cycle on ${s.description}: ${report.tasksSent} task(s) sent`,
              style,
            ),
          );
        if (!opts.drain) {
          if (!table) emit(opts, shape, () => '');
          return;
        }
        if (!s.executor || s.executorsRunning) {
          remark(
            opts,
            'executors are running elsewhere (the local run or the Lambdas); nothing to drain here',
          );
          if (!table)
            emit(opts, { ...shape, drain: { ran: false, tasks: 0, waiting: 0 } }, () => '');
          return;
        }
        const deps = { ...s, ...s.executor };
        // A boot's CHECK comes back after up to check_max_delay: the queue is quiet only once
        // no message arrived for longer than that (each receive waits up to a second).
        const quietPolls = s.config.check_max_delay + 2;
        const spinner = progress('draining the task queue…');
        // With JSON or YAML, stdout carries the result only: the task lines go to stderr.
        const say = (line: string) =>
          above(spinner, () => (table ? print(line) : process.stderr.write(`${line}\n`)));
        let tasks = 0;
        try {
          for (let quiet = 0; quiet < quietPolls; ) {
            const reports = await consumeBatch(deps, s.executor.source, { max: 10 });
            quiet = reports.length === 0 ? quiet + 1 : 0;
            tasks += reports.length;
            for (const r of reports) {
              const line = taskLine(r);
              if (line) say(line);
            }
            spinner?.update(
              `draining the task queue: ${tasks} task(s) run${quiet > 0 ? `, quiet for ${quiet}/${quietPolls} s` : ''}`,
            );
          }
        } finally {
          spinner?.stop();
        }
        const { counts } = await s.store.getPoolState();
        const waiting = countOf(counts, ['PENDING_CREATE', 'BOOTING', 'PRESERVING']);
        if (waiting > 0) {
          say(
            `note: ${waiting} amphora(e) still wait on a task; the next local run, or another \`cycle --drain\`, finishes them`,
          );
        }
        if (!table) emit(opts, { ...shape, drain: { ran: true, tasks, waiting } }, () => '');
      },
      opts.drain === true,
    ),
  );

// -- operator actions -----------------------------------------------------------------------------

function noteIfNoExecutor(s: OpenStack, opts: OutputOptions): void {
  if (!s.executorsRunning) {
    remark(
      opts,
      'note: no local run is active; the next one re-issues this task after task_timeout',
    );
  }
}

stackCommand('claim', 'claim a READY spare for a load balancer (READY → ALLOCATED)')
  .option('--pool <pool>', 'from this pool (required when there are several)')
  .option('--zone <zone>', 'from this availability zone')
  .action(async (opts) =>
    withStack(opts, async (s) => {
      const zones = [
        ...new Set(
          s.config.pools
            .filter((p) => opts.pool === undefined || p.name === opts.pool)
            .flatMap((p) => p.zones.map((z) => z.name))
            .filter((z) => z !== '*'),
        ),
      ];
      if (opts.zone !== undefined && !zones.includes(opts.zone)) {
        throw new HousekeeperError(
          `zone ${opts.zone} is not configured${zones.length > 0 ? ` (zones: ${zones.join(', ')})` : ' (this deployment requests no zone)'}`,
        );
      }
      const claimed = await doorOf(s, opts, 'claim').claim({
        ...(opts.pool ? { pool: opts.pool } : {}),
        ...(opts.zone ? { zone: opts.zone } : {}),
      });
      if (!claimed)
        throw new HousekeeperError(
          `no READY spare${opts.pool ? ` in pool ${opts.pool}` : ''}${opts.zone ? ` in ${opts.zone}` : ''} to claim`,
        );
      emit(
        opts,
        recordJson(claimed),
        () => `claimed ${claimed.id} (server ${claimed.computeId ?? '-'})`,
      );
    }),
  );

stackCommand('deactivate', 'hand amphorae back for removal (→ PENDING_DELETE)')
  .argument('<ids...>', 'amphora ids (or unique prefixes)')
  .action(async (ids: string[], opts) =>
    withStack(opts, async (s) => {
      const results = await doorOf(s, opts, 'deactivate').release(ids);
      if (opts.output !== 'table') {
        emit(
          opts,
          results.map((r) => ({ id: r.amphoraId, result: r.result })),
          () => '',
        );
        if (results.some((r) => !DEACTIVATED_RESULTS.includes(r.result))) process.exitCode = 1;
        return;
      }
      for (const r of results) {
        if (DEACTIVATED_RESULTS.includes(r.result)) print(`${r.amphoraId}: ${r.result}`);
        else {
          const why =
            r.result === 'delete-failed'
              ? `its removal failed for good (DELETE_FAILED); \`housekeeper retry ${r.amphoraId}\` tries again`
              : r.result;
          process.stderr.write(`housekeeper: ${r.amphoraId}: ${why}\n`);
          process.exitCode = 1;
        }
      }
      if (results.some((r) => r.result === 'scheduled')) noteIfNoExecutor(s, opts);
    }),
  );

stackCommand('flag', 'report an amphora as failed (→ ERROR); the planner preserves or removes it')
  .argument('<id>', 'amphora id (or a unique prefix)')
  .requiredOption('--reason <text>', 'what failed', nonEmpty('--reason'))
  .action(async (id: string, opts) =>
    withStack(opts, async (s) => {
      const r = await doorOf(s, opts, 'flag').flag(id, opts.reason);
      emit(opts, recordJson(r), () => `${r.id}: ${r.state}`);
    }),
  );

stackCommand('preserve', 'ask for an amphora to be preserved for diagnosis (→ PRESERVE)')
  .argument('<id>', 'amphora id (or a unique prefix)')
  .action(async (id: string, opts) =>
    withStack(opts, async (s) => {
      const r = await doorOf(s, opts, 'preserve').preserve(id);
      emit(
        opts,
        recordJson(r),
        () =>
          `${r.id}: ${r.state} (the planner preserves it within maximum_preserved_amphora_count)`,
      );
    }),
  );

stackCommand('retry', 'retry an amphora whose removal or preservation failed for good')
  .argument('<id>', 'amphora id (or a unique prefix)')
  .action(async (id: string, opts) =>
    withStack(opts, async (s) => {
      const r = await retryFailed(s, id);
      emit(opts, recordJson(r), () => `${r.id}: ${r.task?.type} sent again`);
      noteIfNoExecutor(s, opts);
    }),
  );

stackCommand(
  'repair-counts',
  'rebuild the state counters from the records (after a drift, e.g. records purged by TTL)',
).action(async (opts) =>
  withStack(opts, async (s) => {
    const before = (await s.store.getPoolState()).counts;
    const after = await s.store.repairCounts();
    const same = JSON.stringify(withoutZeros(before)) === JSON.stringify(withoutZeros(after));
    emit(opts, { changed: !same, before: withoutZeros(before), after: withoutZeros(after) }, () =>
      same
        ? 'the counters were right; nothing changed'
        : `counters rebuilt from the records\n${JSON.stringify({ before: withoutZeros(before), after: withoutZeros(after) }, null, 2)}`,
    );
  }),
);

// -- the dead-letter queue ------------------------------------------------------------------------

const dlq = program
  .command('dlq')
  .description('read the dead-letter queue, and send its messages back to the task queue');

function dlqCommand(name: string, description: string): Command {
  return withOutput(withStackOptions(dlq.command(name).description(description)));
}

/** A local command with no local run works on throw-away queues: say so when they look empty. */
function noteIfThrowAwayQueues(s: OpenStack): void {
  if (!s.executorsRunning) {
    process.stderr.write(
      'housekeeper: note: no local run is active, so these are this command’s own empty queues\n',
    );
  }
}

dlqCommand(
  'list',
  'show the dead-letter queue, oldest first: task, amphora, error class, receives, age (leaves the messages there)',
).action(async (opts) =>
  withStack(opts, async (s) => {
    const views = (await s.deadLetters.list()).map((m) => viewDeadLetter(m, s.clock.now()));
    emit(opts, views, () => formatDeadLetters(views, style));
    if (views.length === 0) noteIfThrowAwayQueues(s);
  }),
);

dlqCommand(
  'redrive',
  'send dead-letter messages back to the task queue (each deleted from the DLQ only once sent)',
)
  .argument('[ids...]', 'message ids, as `dlq list` shows them')
  .option('--all', 'every message in the dead-letter queue')
  .action(async (ids: string[], opts, command: Command) => {
    if ((opts.all === true) === ids.length > 0) {
      command.error('error: give either --all or message ids');
    }
    await withStack(opts, async (s) => {
      const results = await s.deadLetters.redrive(opts.all ? 'all' : ids);
      const failed = results.filter((r) => r.result !== 'redriven');
      if (failed.length > 0) process.exitCode = 1;
      if (opts.output !== 'table') return emit(opts, results, () => '');
      if (results.length === 0) {
        print('(the dead-letter queue is empty)');
        noteIfThrowAwayQueues(s);
      }
      for (const r of results) {
        if (r.result === 'redriven') print(`${r.messageId}: redriven`);
        else process.stderr.write(`housekeeper: ${r.messageId}: not redriven (${r.error})\n`);
      }
    });
  });

// -- the noop cloud -------------------------------------------------------------------------------

const noop = program.command('noop').description('control the noop driver’s simulated cloud');

function noopCommand(name: string, description: string): Command {
  return withOutput(withStackOptions(noop.command(name).description(description)));
}

function controlOf(s: OpenStack) {
  if (!s.control) throw new HousekeeperError('the configured driver is not noop');
  return s.control;
}

/** A fault rule's JSON shape: id, operation, error, then times or probability. */
function ruleJson(rule: FaultRule) {
  return {
    id: rule.id,
    operation: rule.operation,
    error: rule.error,
    ...(rule.times !== undefined ? { times: rule.times } : {}),
    ...(rule.probability !== undefined ? { probability: rule.probability } : {}),
  };
}

function faultLine(rule: FaultRule): string {
  return `fault ${rule.id}: ${rule.operation} fails with ${rule.error} ${rule.times !== undefined ? `the next ${rule.times} time(s)` : `with probability ${rule.probability}`}`;
}

function probability(value: string): number {
  const p = Number(value);
  if (value.trim() === '' || !Number.isFinite(p) || p < 0 || p > 1) {
    throw new InvalidArgumentError(
      `--probability = ${JSON.stringify(value)}: must be a number from 0 to 1`,
    );
  }
  return p;
}

noopCommand('fault', 'make driver operations fail: the next N times, or with a probability')
  .requiredOption(
    '--operation <op>',
    `the driver method to fail, or * for all: ${NOOP_OPERATIONS.join(', ')}`,
  )
  .addOption(
    new Option('--error <kind>', 'error class')
      .choices([...DRIVER_ERROR_KINDS])
      .makeOptionMandatory(),
  )
  .option('--times <n>', 'fail the next n calls', wholeNumber('--times'))
  .option('--probability <p>', 'fail each call with probability p (0 to 1)', probability)
  .action(async (opts, command: Command) => {
    if (opts.operation !== '*' && !NOOP_OPERATIONS.includes(opts.operation)) {
      command.error(
        `error: --operation = ${JSON.stringify(opts.operation)}: must be * or a driver method: ${NOOP_OPERATIONS.join(', ')}`,
      );
    }
    if ((opts.times === undefined) === (opts.probability === undefined)) {
      command.error('error: give exactly one of --times and --probability');
    }
    await withStack(opts, async (s) => {
      const rule = await controlOf(s).injectFault({
        operation: opts.operation as NoopOperation | '*',
        error: opts.error,
        ...(opts.times !== undefined ? { times: opts.times } : {}),
        ...(opts.probability !== undefined ? { probability: opts.probability } : {}),
      });
      emit(opts, ruleJson(rule), () => faultLine(rule));
    });
  });

noopCommand(
  'publish-image',
  'publish an image to the simulated catalogue (the newest wins its tags)',
)
  .requiredOption('--tag <tag...>', 'image tag(s)')
  .option('--owner <id>', 'owner (project) id')
  .action(async (opts) =>
    withStack(opts, async (s) => {
      const id = await controlOf(s).publishImage(
        { tags: opts.tag, ...(opts.owner ? { ownerId: opts.owner } : {}) },
        Date.now(),
      );
      emit(
        opts,
        { imageId: id, tags: opts.tag, ...(opts.owner ? { ownerId: opts.owner } : {}) },
        () => `image ${id} published with tag(s) ${opts.tag.join(', ')}`,
      );
    }),
  );

for (const [name, description, act] of [
  [
    'lose',
    'delete an amphora’s simulated server behind the housekeeper’s back (as `openstack server delete` would)',
    (c: ReturnType<typeof controlOf>, serverId: string) => c.loseServer(serverId),
  ],
  [
    'break',
    'put an amphora’s simulated server in ERROR behind the housekeeper’s back',
    (c: ReturnType<typeof controlOf>, serverId: string) => c.breakServer(serverId),
  ],
] as const) {
  noopCommand(name, description)
    .argument('<id>', 'amphora id, or any unique prefix of it')
    .action(async (id: string, opts) =>
      withStack(opts, async (s) => {
        const control = controlOf(s);
        const record = await resolveAmphora(s.store, id);
        if (record.computeId === undefined) {
          throw new HousekeeperError(`amphora ${record.id} (${record.state}) has no server yet`);
        }
        await act(control, record.computeId);
        emit(
          opts,
          {
            amphoraId: record.id,
            serverId: record.computeId,
            server: name === 'lose' ? 'deleted' : 'ERROR',
          },
          () =>
            `server ${record.computeId} of amphora ${record.id} ${name === 'lose' ? 'deleted' : 'put in ERROR'} in the simulated cloud; the next sweeps will find it`,
        );
      }),
    );
}

noopCommand('faults', 'list the active fault rules').action(async (opts) =>
  withStack(opts, async (s) => {
    const rules = await controlOf(s).faults();
    emit(opts, rules.map(ruleJson), () => formatFaults(rules, style));
  }),
);

noopCommand('clear', 'remove every fault rule').action(async (opts) =>
  withStack(opts, async (s) => {
    const control = controlOf(s);
    const cleared = (await control.faults()).length;
    await control.clearFaults();
    emit(opts, { cleared }, () => `${cleared} fault rule(s) cleared`);
  }),
);

// -- shell completion -----------------------------------------------------------------------------

// `housekeeper completion bash|zsh|fish|powershell` prints the script; the script asks
// `housekeeper complete -- <words>` (hidden) for the candidates, from the commands defined above.
tab(program, { completionCommandName: 'completion' });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has printed the message (and the help); --help and --version end with 0.
    process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
  } else if (error instanceof HousekeeperError) {
    process.stderr.write(`housekeeper: ${error.message}\n`);
    process.exitCode = error instanceof ConfigError || error instanceof ConfigSourceError ? 2 : 1;
  } else if (process.argv.includes('--debug')) {
    throw error;
  } else {
    process.stderr.write(`housekeeper: ${describeUnexpected(error)}\n`);
    process.exitCode = 1;
  }
}
