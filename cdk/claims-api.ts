/**
 * The claims API in AWS: a Lambda function behind a function URL with AWS_IAM auth, and the
 * managed policy that lets another service's role call it.
 *
 * A function URL rather than an API Gateway HTTP API: the API is one function with six routes
 * that the handler already routes and validates, its callers are other AWS principals (SigV4 is
 * the whole of the auth), and a function URL adds no resource, no stage and no per-request
 * charge, and no integration timeout below the function's own. What API Gateway would add
 * (usage plans, custom domains, request mapping) this service's callers do not need.
 *
 * After a claim, a release or a failure report, the function wakes the planner: it marks the run
 * request on the lease item and, for the first since the last cycle, invokes the planner
 * asynchronously (lib/app/remote-planner-wake.ts). A message from the API path rather than
 * DynamoDB Streams: the wake happens within the request, with no stream, no event source mapping
 * and no poller's latency (a stream adds up to a second before the first record is read), and it
 * coalesces on the same lease item the executor's wakes use. The schedule stays the safety net.
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  API_TIMEOUT_SECONDS,
  BY_STATE_AGE,
  BY_STATE_ZONE,
  ENV,
  FUNCTION_MEMORY_MB,
  PRESERVED_QUEUE,
} from '../lib/config/deployment.ts';
import type { HousekeeperConfig } from '../lib/config/schema.ts';
import { ENTRY_POINTS } from './bundling.ts';
import { HousekeeperFunction } from './housekeeper-function.ts';
import type { PoolTable } from './pool-table.ts';
import { sharedEnvironment } from './task-execution.ts';

/** The indexes the API queries: spares by age and zone (claims, ghosts), the preserved queue (status). */
export const API_INDEXES = [BY_STATE_AGE, BY_STATE_ZONE, PRESERVED_QUEUE] as const;

/** Properties of {@link ClaimsApi}. */
export interface ClaimsApiProps {
  readonly config: HousekeeperConfig;
  readonly table: PoolTable;
  readonly queues: { readonly queue: sqs.IQueue; readonly deadLetterQueue: sqs.IQueue };
  /** The planner the API wakes. */
  readonly planner: lambda.IFunction;
  readonly logRetentionDays: number;
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/** The API function, its URL, and the policy callers attach. */
export class ClaimsApi extends Construct {
  /** The API function. */
  readonly api: HousekeeperFunction;
  /** Its function URL (AWS_IAM). */
  readonly url: lambda.FunctionUrl;
  /** Attach to a caller's role to let it call the API. */
  readonly invokePolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: ClaimsApiProps) {
    super(scope, id);
    this.api = new HousekeeperFunction(this, 'Api', {
      entry: ENTRY_POINTS.api,
      description: 'amphora-housekeeper claims API: claim, release, report and read amphorae',
      memorySize: FUNCTION_MEMORY_MB.api,
      timeoutSeconds: API_TIMEOUT_SECONDS,
      environment: {
        ...sharedEnvironment(props.config, props.table, props.queues),
        [ENV.plannerFunctionName]: props.planner.functionName,
      },
      statements: [
        // Records by id (GetItem, BatchGetItem), the pool state (Query on the table), spares and
        // the preserved queue (Query on the indexes), claims and transitions (UpdateItem, PutItem
        // in transactions), idempotency records (PutItem, UpdateItem, DeleteItem), the run
        // request on the lease item (UpdateItem). No ConditionCheckItem: the API commits nothing
        // under the planner's lease.
        ...props.table.statements(
          'PoolTable',
          ['GetItem', 'BatchGetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem'],
          { queryIndexes: API_INDEXES },
        ),
        new iam.PolicyStatement({
          sid: 'SendTasks',
          // A release or a failure report sends its transition's task (a REMOVE, a PRESERVE).
          actions: ['sqs:SendMessage'],
          resources: [props.queues.queue.queueArn],
        }),
        new iam.PolicyStatement({
          sid: 'WakePlanner',
          actions: ['lambda:InvokeFunction'],
          resources: [props.planner.functionArn],
        }),
      ],
      logRetentionDays: props.logRetentionDays,
      ...(props.logLevel ? { logLevel: props.logLevel } : {}),
    });
    this.url = this.api.function.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    const fn = this.api.function.functionArn;
    this.invokePolicy = new iam.ManagedPolicy(this, 'InvokePolicy', {
      description:
        'amphora-housekeeper: call the claims API (attach to the roles of services that claim amphorae)',
      statements: [
        new iam.PolicyStatement({
          sid: 'CallClaimsApi',
          actions: ['lambda:InvokeFunctionUrl'],
          resources: [fn],
          conditions: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        new iam.PolicyStatement({
          // Function URLs also need InvokeFunction, limited here to calls through the URL.
          sid: 'CallClaimsApiThroughUrl',
          actions: ['lambda:InvokeFunction'],
          resources: [fn],
          conditions: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } },
        }),
      ],
    });
  }
}
