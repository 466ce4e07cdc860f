/**
 * The task queue, its dead-letter queue and the executor that consumes it. The queue's numbers
 * come from `queueSettings(config)` of the deployment contract: visibility 6 × the executor
 * timeout, `maxReceiveCount` = the retry policy's `task_max_attempts`, the DLQ keeping messages
 * 14 days; the event source's batch size, batching window and maximum concurrency protect the
 * OpenStack APIs and report partial batch failures.
 */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  BY_ID,
  configChecksum,
  ENV,
  executorTimeoutSeconds,
  FUNCTION_MEMORY_MB,
  queueSettings,
} from '../lib/config/deployment.ts';
import { configToRaw, type HousekeeperConfig } from '../lib/config/schema.ts';
import { ENTRY_POINTS } from './bundling.ts';
import type { CloudCredentials } from './cloud-credentials.ts';
import { type FunctionVpcPlacement, HousekeeperFunction } from './housekeeper-function.ts';
import { PLANNER_INDEXES } from './planner-schedule.ts';
import type { PoolTable } from './pool-table.ts';

/** Properties of {@link TaskExecution}. */
export interface TaskExecutionProps {
  /** The validated configuration: queue numbers, timeouts, and the functions' own copy. */
  readonly config: HousekeeperConfig;
  /** The pool table. */
  readonly table: PoolTable;
  /**
   * The openstack driver's credentials.
   * @default - none: the noop driver reads no credentials
   */
  readonly credentials?: CloudCredentials;
  /** Days the executor's log group keeps events. */
  readonly logRetentionDays: number;
  /**
   * The executor's log level.
   * @default 'INFO'
   */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * A VPC for the executor, to reach a private OpenStack API.
   * @default - not in a VPC
   */
  readonly vpc?: FunctionVpcPlacement;
}

/** The environment both functions read (names from the contract's `ENV`). */
export function sharedEnvironment(
  config: HousekeeperConfig,
  table: PoolTable,
  queues: { readonly queue: sqs.IQueue; readonly deadLetterQueue: sqs.IQueue },
): Record<string, string> {
  const json = JSON.stringify(configToRaw(config));
  return {
    [ENV.config]: json,
    // Validated just now: the functions trust it while the checksum matches (no schema at start).
    [ENV.configChecksum]: configChecksum(json),
    [ENV.tableName]: table.table.tableName,
    [ENV.queueUrl]: queues.queue.queueUrl,
    [ENV.deadLetterQueueUrl]: queues.deadLetterQueue.queueUrl,
  };
}

/** Task queue + DLQ + executor. */
export class TaskExecution extends Construct {
  /** Where the planner (and the executor itself) sends tasks. */
  readonly queue: sqs.Queue;
  /** Where tasks go after `maxReceiveCount` deliveries, or straight away when malformed. */
  readonly deadLetterQueue: sqs.Queue;
  /** The executor. */
  readonly executor: HousekeeperFunction;
  /** The executor's SQS event source. */
  readonly eventSource: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: TaskExecutionProps) {
    super(scope, id);
    const settings = queueSettings(props.config);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.seconds(settings.deadLetterRetentionSeconds),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const statements = [
      ...props.table.statements(
        'PoolTable',
        // get, getMany, update, recordCreateOutcome, orphan marks, and the noop driver's cloud;
        // the sweep lists the live records of each state to find ghosts (byStateAge). A boot
        // that ends runs a planner cycle at once (requestPlannerRun), which needs what the
        // planner's own role has: its fenced commits (ConditionCheckItem) and its indexes.
        [
          'GetItem',
          'BatchGetItem',
          'PutItem',
          'UpdateItem',
          'DeleteItem',
          'Query',
          'ConditionCheckItem',
        ],
        // A sweep that finds the counters drifted rebuilds them from every record (byId).
        { queryIndexes: [...PLANNER_INDEXES, BY_ID] },
      ),
      new iam.PolicyStatement({
        sid: 'ConsumeTasks',
        actions: [
          // the event source mapping's polling, on the function's behalf
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          // a retry's back-off
          'sqs:ChangeMessageVisibility',
          // follow-up tasks (a CHECK after a CREATE)
          'sqs:SendMessage',
        ],
        resources: [this.queue.queueArn],
      }),
      new iam.PolicyStatement({
        sid: 'DeadLetterTasks',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
      ...(props.credentials?.statements() ?? []),
    ];
    this.executor = new HousekeeperFunction(this, 'Executor', {
      entry: ENTRY_POINTS.executor,
      description:
        'amphora-housekeeper executor: runs create, check, remove, preserve and sweep tasks',
      memorySize: FUNCTION_MEMORY_MB.executor,
      timeoutSeconds: executorTimeoutSeconds(props.config),
      environment: {
        ...sharedEnvironment(props.config, props.table, this),
        ...(props.credentials ? { [ENV.credentialsSecretArn]: props.credentials.secretId } : {}),
      },
      statements,
      logRetentionDays: props.logRetentionDays,
      ...(props.logLevel ? { logLevel: props.logLevel } : {}),
      ...(props.vpc ? { vpc: props.vpc } : {}),
    });
    // A mapping of its own rather than SqsEventSource, which would also grant sqs:GetQueueUrl.
    this.eventSource = new lambda.EventSourceMapping(this, 'TaskSource', {
      target: this.executor.function,
      eventSourceArn: this.queue.queueArn,
      batchSize: settings.batchSize,
      ...(settings.maxBatchingWindowSeconds > 0
        ? { maxBatchingWindow: Duration.seconds(settings.maxBatchingWindowSeconds) }
        : {}),
      maxConcurrency: settings.maximumConcurrency,
      reportBatchItemFailures: true,
    });
  }
}
