/**
 * What the CLI says about an error that is not one of the project's own (a lost connection, a
 * bug): one line a person can act on, instead of a stack trace (`--debug` shows the trace).
 */

/** The network error codes that mean a local emulator (or the endpoint named) went away. */
const GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

interface NetworkError {
  readonly code?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly message?: unknown;
}

/** The one-line message for an unexpected error. */
export function describeUnexpected(error: unknown): string {
  const e = (error ?? {}) as NetworkError;
  const message = typeof e.message === 'string' ? e.message : String(error);
  if (typeof e.code === 'string' && GONE.has(e.code)) {
    const where =
      e.address !== undefined ? ` ${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : '';
    return (
      `lost the connection to${where || ' a service'} (${e.code}): if it is the local run's DynamoDB Local or SQS emulator, ` +
      'it stopped (its Java process killed?); the data in .local/ is kept, start the local run again'
    );
  }
  return `unexpected error: ${message} (run again with --debug for the stack trace)`;
}
