/**
 * The deployment contract: every name and number that the CDK stack and the runtime must agree
 * on, in one module that both import. Environment-variable names, the table's keys and indexes,
 * the queues' settings, the functions' timeouts, and the metrics (names, namespace, dimensions)
 * that the code emits and the alarms watch. Plain data and pure functions only.
 */
import type { HousekeeperConfig } from './schema.ts';

/** Names of the environment variables the functions read (and the CDK stack sets). */
export const ENV = {
  /** The whole configuration as JSON; per-option variables override it. */
  config: 'HOUSEKEEPER_CONFIG',
  /**
   * {@link configChecksum} of `HOUSEKEEPER_CONFIG` as the stack validated it at synth. While it
   * matches, a function takes the configuration as validated; otherwise it validates it in full.
   */
  configChecksum: 'HOUSEKEEPER_CONFIG_CHECKSUM',
  tableName: 'HOUSEKEEPER_TABLE_NAME',
  queueUrl: 'HOUSEKEEPER_QUEUE_URL',
  deadLetterQueueUrl: 'HOUSEKEEPER_DLQ_URL',
  credentialsSecretArn: 'HOUSEKEEPER_CREDENTIALS_SECRET_ARN',
  /**
   * The claims API's URL, for the CLI's `--target aws` (claim, deactivate, flag, preserve and
   * status go through it); `--stack` reads it from the stack's API function.
   */
  apiUrl: 'HOUSEKEEPER_API_URL',
  /** The planner the API function wakes after a claim, a release or a failure report. */
  plannerFunctionName: 'HOUSEKEEPER_PLANNER_FUNCTION_NAME',
  dynamodbEndpoint: 'HOUSEKEEPER_DYNAMODB_ENDPOINT',
  sqsEndpoint: 'HOUSEKEEPER_SQS_ENDPOINT',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  serviceName: 'POWERTOOLS_SERVICE_NAME',
} as const;

/**
 * What the checksum covers besides the JSON: the form `configToRaw` writes and `trustedConfig`
 * reads (lib/config/schema.ts). Change it when that form changes, so that a function never trusts
 * a configuration written in another form.
 */
const CONFIG_CHECKSUM_DOMAIN = 'amphora-housekeeper/validated-config/v1';

/** cyrb53 (bryc, public domain): a fast 53-bit string hash, seeded. */
function cyrb53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2_654_435_761);
    h2 = Math.imul(h2 ^ ch, 1_597_334_677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2_246_822_507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3_266_489_909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2_246_822_507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3_266_489_909);
  return 4_294_967_296 * (2_097_151 & h2) + (h1 >>> 0);
}

/**
 * The checksum the stack sets next to a configuration it validated (`HOUSEKEEPER_CONFIG_CHECKSUM`):
 * two differently seeded 53-bit hashes of the domain above and the exact JSON text, in hex. It
 * tells a validated value from one edited since (in the console, by another tool), by accident
 * or by hand; it is no security boundary, since whoever can change a function's environment can
 * change its code. Pure JavaScript, so that this contract module needs no Node builtin.
 */
export function configChecksum(json: string): string {
  const text = `${CONFIG_CHECKSUM_DOMAIN}\n${json}`;
  return [1, 2].map((seed) => cyrb53(text, seed).toString(16).padStart(14, '0')).join('');
}

/** The service name in logs and metrics (Powertools adds it as the `service` dimension). */
export const SERVICE_NAME = 'amphora-housekeeper';

// -- the table ------------------------------------------------------------------------------------

/** A key attribute of the table or of an index (DynamoDB's and CDK's `AttributeType.STRING` is `'S'`). */
export interface KeyAttribute {
  readonly name: string;
  readonly type: 'S';
}

/** A global secondary index (CDK's `ProjectionType.KEYS_ONLY` is `'KEYS_ONLY'`). */
export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly projectionType: 'KEYS_ONLY';
}

/** The table definition: keys, indexes, TTL attribute and billing mode. */
export interface TableDefinition {
  readonly partitionKey: KeyAttribute;
  readonly sortKey: KeyAttribute;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  /** Epoch SECONDS after which DynamoDB may delete the item (set on DELETED records only). */
  readonly timeToLiveAttribute: string;
  readonly billingMode: 'PAY_PER_REQUEST';
}

/** Records of one pool by state, then zone, then age: per-zone oldest-first lists. */
export const BY_STATE_ZONE = {
  indexName: 'byStateZone',
  partitionKey: { name: 'gsiState', type: 'S' },
  sortKey: { name: 'gsiZoneAge', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Records of one pool by state, then age across zones: the oldest records of a state. */
export const BY_STATE_AGE = {
  indexName: 'byStateAge',
  partitionKey: { name: 'gsiState', type: 'S' },
  sortKey: { name: 'gsiAge', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Sparse index of the preserved queue (PRESERVING and PRESERVED records only), by queue position. */
export const PRESERVED_QUEUE = {
  indexName: 'preservedQueue',
  partitionKey: { name: 'gsiQueue', type: 'S' },
  sortKey: { name: 'gsiQueueSeq', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Sparse index of DELETED records by purge time: what the planner purges, oldest first. */
export const BY_EXPIRY = {
  indexName: 'byExpiry',
  partitionKey: { name: 'gsiExpiry', type: 'S' },
  sortKey: { name: 'gsiExpiryAt', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** Every record by id, sharded by the id's first character: id prefixes as the CLI takes them. */
export const BY_ID = {
  indexName: 'byId',
  partitionKey: { name: 'gsiIdShard', type: 'S' },
  sortKey: { name: 'gsiId', type: 'S' },
  projectionType: 'KEYS_ONLY',
} as const satisfies IndexDefinition;

/** The pool table: records, lease, counters and pool state, orphan marks and the noop cloud. */
export const POOL_TABLE = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalSecondaryIndexes: [BY_STATE_ZONE, BY_STATE_AGE, PRESERVED_QUEUE, BY_EXPIRY, BY_ID],
  timeToLiveAttribute: 'ttl',
  billingMode: 'PAY_PER_REQUEST',
} as const satisfies TableDefinition;

// -- the queues and the functions -----------------------------------------------------------------

/** Seconds the task DLQ keeps a message (SQS's maximum: 14 days). */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 3600;

/** Seconds before the Lambda timeout at which middy's abort signal fires. */
export const TIMEOUT_EARLY_SECONDS = 2;

/** Memory of each function, MB. */
export const FUNCTION_MEMORY_MB = { planner: 512, executor: 512, api: 512 } as const;

/**
 * The API function's timeout: well above a claim's few DynamoDB round trips, and well below the
 * time an idempotency key stays held by a request in progress (`IDEMPOTENCY_DEFAULTS`, 60 s), so
 * that a retry after a timed-out attempt waits for it rather than running it twice.
 */
export const API_TIMEOUT_SECONDS = 15;

/** The planner's timeout: below the lease TTL and below the interval, so two never overlap. */
export function plannerTimeoutSeconds(
  config: Pick<HousekeeperConfig, 'planner_lease_ttl' | 'housekeeping_interval'>,
): number {
  return Math.min(120, config.planner_lease_ttl - 10, config.housekeeping_interval - 10);
}

/** The executor's timeout. */
export function executorTimeoutSeconds(config: Pick<HousekeeperConfig, 'executor_timeout'>) {
  return config.executor_timeout;
}

/** The task queue's settings, as the stack creates it and the local emulators mirror it. */
export interface QueueSettings {
  /** ≥ 6 × the executor timeout, as AWS recommends for an SQS event source. */
  readonly visibilityTimeoutSeconds: number;
  /** Deliveries before SQS moves a message to the DLQ: the retry policy's `task_max_attempts`. */
  readonly maxReceiveCount: number;
  readonly deadLetterRetentionSeconds: number;
  /** The executor's event source mapping. */
  readonly batchSize: number;
  readonly maxBatchingWindowSeconds: number;
  readonly maximumConcurrency: number;
}

/** The queue settings a configuration implies. */
export function queueSettings(
  config: Pick<
    HousekeeperConfig,
    | 'executor_timeout'
    | 'task_max_attempts'
    | 'executor_batch_size'
    | 'executor_batch_window'
    | 'executor_max_concurrency'
  >,
): QueueSettings {
  return {
    visibilityTimeoutSeconds: 6 * executorTimeoutSeconds(config),
    maxReceiveCount: config.task_max_attempts,
    deadLetterRetentionSeconds: DLQ_RETENTION_SECONDS,
    batchSize: config.executor_batch_size,
    maxBatchingWindowSeconds: config.executor_batch_window,
    maximumConcurrency: config.executor_max_concurrency,
  };
}

// -- metrics --------------------------------------------------------------------------------------

/** The CloudWatch namespace of every metric the functions emit. */
export const METRICS_NAMESPACE = 'AmphoraHousekeeper';

/** A metric the code emits: its name and the dimensions it carries (besides `service`). */
export interface MetricDefinition {
  readonly name: string;
  readonly dimensions: readonly string[];
  /** Which function emits it. */
  readonly emittedBy: 'planner' | 'executor' | 'api';
  readonly description: string;
}

function metric<N extends string, D extends string>(
  name: N,
  emittedBy: MetricDefinition['emittedBy'],
  dimensions: readonly D[],
  description: string,
) {
  return { name, dimensions, emittedBy, description } as const;
}

/** Every metric, by name. Emit them only through these names. */
export const METRICS = {
  // planner, every cycle
  SparePoolSize: metric('SparePoolSize', 'planner', ['Pool'], 'READY spares of a pool'),
  SparePoolTarget: metric('SparePoolTarget', 'planner', ['Pool'], 'target spares of a pool'),
  SpareDeficit: metric(
    'SpareDeficit',
    'planner',
    [],
    'spares missing below target, summed over pools',
  ),
  AmphoraCount: metric('AmphoraCount', 'planner', ['Pool', 'State'], 'records by pool and state'),
  DeployingCount: metric('DeployingCount', 'planner', [], 'amphorae in creation, all pools'),
  DeployingCap: metric('DeployingCap', 'planner', [], 'maximum_deploying_amphora_count'),
  PreservedCount: metric('PreservedCount', 'planner', [], 'preserved amphorae, all pools'),
  PreservedMax: metric('PreservedMax', 'planner', [], 'maximum_preserved_amphora_count'),
  AmphoraeNeedingOperator: metric(
    'AmphoraeNeedingOperator',
    'planner',
    [],
    'DELETE_FAILED and PRESERVE_FAILED amphorae waiting for an operator',
  ),
  CloudAuthFailing: metric(
    'CloudAuthFailing',
    'planner',
    [],
    '1 while the cloud breaker is open on Unauthorized (credentials expired or revoked), else 0',
  ),
  CloudUnavailable: metric(
    'CloudUnavailable',
    'planner',
    [],
    '1 while the cloud breaker is open on Unavailable (the APIs answer nobody), else 0',
  ),
  PlannerRun: metric('PlannerRun', 'planner', [], '1 per planner cycle that ran'),
  CountersRepaired: metric(
    'CountersRepaired',
    'executor',
    [],
    'counters rebuilt after a sweep found them differing from the records (a drift)',
  ),
  PlannerRunCoalesced: metric(
    'PlannerRunCoalesced',
    'executor',
    [],
    'planner run requests folded into one already pending (a boot finished meanwhile)',
  ),
  PlannerLeaseBusy: metric('PlannerLeaseBusy', 'planner', [], 'cycles skipped: lease held'),
  PlannerWriteConflict: metric('PlannerWriteConflict', 'planner', [], 'decisions that lost a race'),
  PlannerDecisions: metric('PlannerDecisions', 'planner', [], 'decisions per cycle'),
  TasksSent: metric('TasksSent', 'planner', [], 'tasks the planner sent'),
  // executor, per task
  MalformedTask: metric('MalformedTask', 'executor', [], 'messages that did not parse'),
  TaskOutcome: metric('TaskOutcome', 'executor', ['TaskType', 'Outcome'], 'tasks handled'),
  TaskError: metric('TaskError', 'executor', ['TaskType', 'ErrorClass'], 'failed task attempts'),
  TaskDeadLettered: metric(
    'TaskDeadLettered',
    'executor',
    ['TaskType', 'ErrorClass'],
    'tasks moved to the DLQ',
  ),
  DriverUnauthorized: metric(
    'DriverUnauthorized',
    'executor',
    [],
    'cloud calls refused as Unauthorized (credentials expired or revoked)',
  ),
  DeleteFailed: metric('DeleteFailed', 'executor', [], 'amphorae that failed to delete for good'),
  PreserveFailed: metric('PreserveFailed', 'executor', [], 'preservations that failed for good'),
  OrphansMarked: metric('OrphansMarked', 'executor', [], 'orphaned servers marked by a sweep'),
  OrphansRemoved: metric('OrphansRemoved', 'executor', [], 'orphaned servers removed'),
  GhostsFound: metric(
    'GhostsFound',
    'executor',
    [],
    'records a sweep found without their server, or with it broken, and failed (SERVER_MISSING, SERVER_FAILED)',
  ),
  AllocatedServersMissing: metric(
    'AllocatedServersMissing',
    'executor',
    [],
    'ALLOCATED amphorae a sweep found without a healthy server (for the operator; never replaced)',
  ),
  // the claims API, per request
  ApiClaim: metric('ApiClaim', 'api', ['Pool'], 'spares claimed over the API'),
  ApiNoSpare: metric('ApiNoSpare', 'api', ['Pool'], 'claims refused with NO_SPARE (pool empty)'),
  ApiInternalError: metric(
    'ApiInternalError',
    'api',
    [],
    'API requests answered 500 (an unexpected error, logged)',
  ),
} as const;

/** A metric name. */
export type MetricName = keyof typeof METRICS;
