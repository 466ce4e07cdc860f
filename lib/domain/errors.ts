/**
 * Errors of the housekeeping domain and the seed's driver exception model.
 *
 * Every error here keeps the original failure as `cause` and carries only data that is
 * safe to log: no credential, token or secret ever goes into a message.
 */

/** Base of every error this project raises on purpose. */
export class HousekeeperError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A record was asked to move between two states the lifecycle does not connect. */
export class IllegalTransitionError extends HousekeeperError {
  readonly amphoraId: string;
  readonly from: string;
  readonly to: string;
  constructor(amphoraId: string, from: string, to: string) {
    super(`amphora ${amphoraId}: illegal transition ${from} -> ${to}`);
    this.amphoraId = amphoraId;
    this.from = from;
    this.to = to;
  }
}

/** A conditional write lost its race: the stored record is not at the version the writer read. */
export class VersionConflictError extends HousekeeperError {
  readonly amphoraId: string;
  readonly expectedVersion: number | 'absent';
  /** The record as stored when the write failed, when the store could return it. */
  readonly current: unknown;
  constructor(
    amphoraId: string,
    expectedVersion: number | 'absent',
    current?: unknown,
    options?: ErrorOptions,
  ) {
    const actual =
      current && typeof current === 'object' && 'version' in current
        ? `version ${String((current as { version: unknown }).version)}`
        : 'no record';
    super(
      `amphora ${amphoraId}: conditional write expected ${expectedVersion === 'absent' ? 'no record' : `version ${expectedVersion}`} but found ${actual}`,
      options,
    );
    this.amphoraId = amphoraId;
    this.expectedVersion = expectedVersion;
    this.current = current;
  }
}

/** The planner lease is held by someone else, or was lost: a fenced writer must stop. */
export class LeaseLostError extends HousekeeperError {
  readonly token: number;
  constructor(token: number, message?: string, options?: ErrorOptions) {
    super(message ?? `planner lease with fencing token ${token} is no longer held`, options);
    this.token = token;
  }
}

/** An amphora id that names no stored record. */
export class AmphoraNotFoundError extends HousekeeperError {
  readonly amphoraId: string;
  constructor(amphoraId: string) {
    super(`amphora ${amphoraId} does not exist`);
    this.amphoraId = amphoraId;
  }
}

/** A message on the task queue that does not parse as a task. */
export class MalformedTaskError extends HousekeeperError {}

// ---------------------------------------------------------------------------------------------
// The seed's exception model for amphora drivers.

/** The base of every driver error, and the catch-all when no specific class fits. */
export class AmphoraDriverError extends HousekeeperError {
  /** HTTP status of the failed call, when there was one. */
  readonly status: number | undefined;
  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

/** The amphora (server, port or image) could not be found, or was deleted by Nova. */
export class NotFoundError extends AmphoraDriverError {}

/** The driver cannot access the amphora: credentials or permissions are refused. */
export class UnauthorizedError extends AmphoraDriverError {}

/** The amphora or the cloud is temporarily unavailable; the call may succeed later. */
export class UnavailableError extends AmphoraDriverError {}

/**
 * The server is busy with another task (Nova's `task_state`, such as `image_uploading` just after
 * a snapshot) and refused the request; the same request succeeds once that task ends.
 */
export class ServerBusyError extends UnavailableError {}

/** The amphora could not be deleted. */
export class DeleteFailedError extends AmphoraDriverError {}

/** The driver does not implement or support this operation. */
export class NotImplementedError extends AmphoraDriverError {}

/** The names of the driver error classes, most specific first, as used in metrics and policy. */
export type DriverErrorKind =
  | 'NotFound'
  | 'Unauthorized'
  | 'Unavailable'
  | 'DeleteFailed'
  | 'NotImplemented'
  | 'AmphoraDriverError';

/** Every driver error kind, for option lists and tests. */
export const DRIVER_ERROR_KINDS: readonly DriverErrorKind[] = [
  'NotFound',
  'Unauthorized',
  'Unavailable',
  'DeleteFailed',
  'NotImplemented',
  'AmphoraDriverError',
];

/** Classifies a caught value into the seed's exception model, or `undefined` for non-driver errors. */
export function driverErrorKind(error: unknown): DriverErrorKind | undefined {
  if (error instanceof NotFoundError) return 'NotFound';
  if (error instanceof UnauthorizedError) return 'Unauthorized';
  if (error instanceof UnavailableError) return 'Unavailable';
  if (error instanceof DeleteFailedError) return 'DeleteFailed';
  if (error instanceof NotImplementedError) return 'NotImplemented';
  if (error instanceof AmphoraDriverError) return 'AmphoraDriverError';
  return undefined;
}

/** Builds the driver error of the given kind; used by drivers that learn the kind from data. */
export function driverError(
  kind: DriverErrorKind,
  message: string,
  options?: ErrorOptions & { status?: number },
): AmphoraDriverError {
  const ctor = {
    NotFound: NotFoundError,
    Unauthorized: UnauthorizedError,
    Unavailable: UnavailableError,
    DeleteFailed: DeleteFailedError,
    NotImplemented: NotImplementedError,
    AmphoraDriverError: AmphoraDriverError,
  }[kind];
  return new ctor(message, options);
}

/** Some tasks could not be sent to the queue; the listed ones were not accepted. */
export class TaskSendError extends HousekeeperError {
  readonly failedTaskIds: readonly string[];
  constructor(failedTaskIds: readonly string[], message?: string, options?: ErrorOptions) {
    super(
      message ?? `${failedTaskIds.length} task(s) could not be sent: ${failedTaskIds.join(', ')}`,
      options,
    );
    this.failedTaskIds = failedTaskIds;
  }
}

/**
 * Some handled messages could not be deleted from the queue: they come back after their
 * visibility timeout and run again (tasks are idempotent), so nothing is lost.
 */
export class TaskAckError extends HousekeeperError {
  readonly failedReceipts: readonly string[];
  constructor(failedReceipts: readonly string[], message: string, options?: ErrorOptions) {
    super(message, options);
    this.failedReceipts = failedReceipts;
  }
}

/** An operator action that does not apply to the amphora as it stands. */
export class OperatorActionError extends HousekeeperError {}

/** Message ids asked to be redriven that are not in the dead-letter queue. */
export class UnknownDeadLetterError extends HousekeeperError {
  readonly messageIds: readonly string[];
  constructor(messageIds: readonly string[]) {
    super(
      `not in the dead-letter queue: ${messageIds.join(', ')} (\`housekeeper dlq list\` shows the ids); nothing redriven`,
    );
    this.messageIds = messageIds;
  }
}
