/**
 * The planner and what runs it: an EventBridge Scheduler schedule at exactly
 * `housekeeping_interval`, flexible window off, in a schedule group of its own (so that the
 * Scheduler's metrics are this deployment's). A failed tick is not retried, neither by the
 * Scheduler nor by Lambda's asynchronous queue: the next tick is the retry. What the Scheduler
 * cannot deliver goes to a dead-letter queue. Its role is trusted by the Scheduler only, and
 * only for this account's schedule group.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  BY_EXPIRY,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  DLQ_RETENTION_SECONDS,
  FUNCTION_MEMORY_MB,
  PRESERVED_QUEUE,
  plannerTimeoutSeconds,
} from '../lib/config/deployment.ts';
import type { HousekeeperConfig } from '../lib/config/schema.ts';
import { ENTRY_POINTS } from './bundling.ts';
import { HousekeeperFunction } from './housekeeper-function.ts';
import type { PoolTable } from './pool-table.ts';
import { sharedEnvironment } from './task-execution.ts';

/**
 * The event each tick carries: the Scheduler fills in these context attributes, so a planner's
 * log can name the tick it ran for.
 */
export const SCHEDULE_INPUT = {
  source: 'amphora-housekeeper.schedule',
  scheduleArn: '<aws.scheduler.schedule-arn>',
  scheduledTime: '<aws.scheduler.scheduled-time>',
  executionId: '<aws.scheduler.execution-id>',
  attemptNumber: '<aws.scheduler.attempt-number>',
} as const;

/** The indexes a planner cycle queries (`PoolStore.countByState`, `listByState`, `listPreservedQueue`). */
export const PLANNER_INDEXES = [BY_STATE_ZONE, BY_STATE_AGE, PRESERVED_QUEUE, BY_EXPIRY] as const;

/** Properties of {@link PlannerSchedule}. */
export interface PlannerScheduleProps {
  /** The validated configuration: the interval, the lease, and the function's own copy. */
  readonly config: HousekeeperConfig;
  /** The pool table. */
  readonly table: PoolTable;
  /** The queues the planner sends tasks to (and whose DLQ the runtime is told of). */
  readonly queues: { readonly queue: sqs.IQueue; readonly deadLetterQueue: sqs.IQueue };
  /** Days the planner's log group keeps events. */
  readonly logRetentionDays: number;
  /**
   * The planner's log level.
   * @default 'INFO'
   */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/** Schedule + planner. */
export class PlannerSchedule extends Construct {
  /** The planner. */
  readonly planner: HousekeeperFunction;
  /** The schedule's group (the dimension of its metrics). */
  readonly group: scheduler.ScheduleGroup;
  /** The schedule. */
  readonly schedule: scheduler.Schedule;
  /** Where ticks the Scheduler could not deliver go. */
  readonly deadLetterQueue: sqs.Queue;
  /** The role the Scheduler invokes the planner with. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: PlannerScheduleProps) {
    super(scope, id);
    const interval = Duration.seconds(props.config.housekeeping_interval);
    this.planner = new HousekeeperFunction(this, 'Planner', {
      entry: ENTRY_POINTS.planner,
      description: 'amphora-housekeeper planner: one housekeeping cycle per scheduled tick',
      memorySize: FUNCTION_MEMORY_MB.planner,
      timeoutSeconds: plannerTimeoutSeconds(props.config),
      environment: sharedEnvironment(props.config, props.table, props.queues),
      statements: [
        // lease (UpdateItem), pool state with the counters (Query on the table), listings (Query
        // on the state indexes, the preserved queue and the expired records, BatchGetItem),
        // decisions (a transaction: ConditionCheckItem on the lease, PutItem of records,
        // DeleteItem of purged ones, UpdateItem of counters and notes). Not byId (the CLI's): a
        // planner that starts to is refused, and the deploy tier's call check says so.
        ...props.table.statements(
          'PoolTable',
          ['Query', 'BatchGetItem', 'UpdateItem', 'PutItem', 'DeleteItem', 'ConditionCheckItem'],
          { queryIndexes: PLANNER_INDEXES },
        ),
        new iam.PolicyStatement({
          sid: 'SendTasks',
          actions: ['sqs:SendMessage'],
          resources: [props.queues.queue.queueArn],
        }),
      ],
      logRetentionDays: props.logRetentionDays,
      ...(props.logLevel ? { logLevel: props.logLevel } : {}),
    });
    // The Scheduler invokes asynchronously: Lambda's own retries would re-run a failed cycle.
    this.planner.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: interval });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.seconds(DLQ_RETENTION_SECONDS),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // Named here, and its ARN built from the name, so that the role (which the deploy tier's
    // emulator creates) does not reference an attribute of the group (which it does not).
    const stack = Stack.of(this);
    const groupName = `${stack.stackName}-planner`.slice(0, 64);
    this.group = new scheduler.ScheduleGroup(this, 'Group', { scheduleGroupName: groupName });
    const groupArn = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule-group',
      resourceName: groupName,
    });
    this.role = new iam.Role(this, 'Role', {
      description: 'amphora-housekeeper: the Scheduler invokes the planner with this role',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnEquals: { 'aws:SourceArn': groupArn },
        },
      }),
      inlinePolicies: {
        Scheduler: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              sid: 'InvokePlanner',
              actions: ['lambda:InvokeFunction'],
              resources: [this.planner.function.functionArn],
            }),
            new iam.PolicyStatement({
              sid: 'DeadLetterTicks',
              actions: ['sqs:SendMessage'],
              resources: [this.deadLetterQueue.queueArn],
            }),
          ],
        }),
      },
    });
    const target: scheduler.IScheduleTarget = {
      bind: () => ({
        arn: this.planner.function.functionArn,
        role: this.role,
        input: scheduler.ScheduleTargetInput.fromObject(SCHEDULE_INPUT),
        // A tick that cannot be delivered within one interval is dropped: the next one replaces it.
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: interval.toSeconds() },
        deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      }),
    };
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `amphora-housekeeper planner, every ${props.config.housekeeping_interval} s`,
      schedule: scheduler.ScheduleExpression.rate(interval),
      scheduleGroup: this.group,
      timeWindow: scheduler.TimeWindow.off(),
      target,
    });
  }
}
