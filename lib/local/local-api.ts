/**
 * The claims API of the local run: the very handler the Lambda function URL calls, on a loopback
 * port (unsigned requests accepted), over the local stack's store and queue. Its planner wake is
 * in-process: a coalesced `requestPlannerRun` started without making the response wait.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { type ApiDeps, handleApiRequest } from '../api/handler.ts';
import { type RunningApi, serveApi } from '../api/node-server.ts';
import { type CycleReport, requestPlannerRun } from '../app/run-planner-cycle.ts';
import type { IdempotencyStore } from '../ports/idempotency-store.ts';
import type { PlannerWake } from '../ports/planner-wake.ts';
import type { LocalStack } from './local-runner.ts';

/** The default port of the local API (`--api-port`); 0 picks any free port. */
export const DEFAULT_API_PORT = 8787;

/** How long the local wake gathers wakes before it starts one planner run for all of them. */
export const WAKE_DEBOUNCE_MS = 50;

/**
 * A wake that starts a planner run in this process and does not wait for it. Wakes within
 * {@link WAKE_DEBOUNCE_MS} of the first are served by the same run: in memory a cycle takes
 * less than a millisecond, so without this every claim of a burst would get a cycle of its own.
 * A wake during a run marks the lease item (`requestRun`), and the run's release runs again.
 */
export class InProcessWake implements PlannerWake {
  private readonly pending = new Set<Promise<void>>();
  private scheduled = false;
  private serial = 0;
  private readonly stack: Omit<LocalStack, 'driver' | 'source'>;
  private readonly onCycles: (reports: readonly CycleReport[]) => void;
  private readonly debounceMs: number;

  constructor(
    stack: Omit<LocalStack, 'driver' | 'source'>,
    onCycles: (reports: readonly CycleReport[]) => void = () => {},
    debounceMs = WAKE_DEBOUNCE_MS,
  ) {
    this.stack = stack;
    this.onCycles = onCycles;
    this.debounceMs = debounceMs;
  }

  async wake(): Promise<void> {
    // The change that woke us is committed: a run that starts later sees it.
    if (this.scheduled) return;
    this.scheduled = true;
    const run = delay(this.debounceMs)
      .then(() => {
        this.scheduled = false;
        this.serial += 1;
        return requestPlannerRun({
          ...this.stack,
          holder: `local-api-${process.pid}-${this.serial}`,
        });
      })
      .then((reports) => this.onCycles(reports))
      .catch((error: unknown) => {
        // Nothing is lost: the run stays requested, and the scheduled cycle serves it.
        this.stack.logger.warn('the planner run the API asked for failed', {
          error: String(error),
        });
      })
      .finally(() => this.pending.delete(run));
    this.pending.add(run);
  }

  /** Resolves once every run started so far has ended. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

/** Options of {@link startLocalApi}. */
export interface LocalApiOptions {
  readonly port: number;
  readonly idempotency: IdempotencyStore;
  /** The planner cycles a wake ran (for the local run's output). */
  readonly onCycles?: (reports: readonly CycleReport[]) => void;
  /** Named in the error when the port is taken. @default --api-port */
  readonly portOption?: string;
}

/** A running local API. */
export interface LocalApi extends RunningApi {
  readonly deps: ApiDeps;
}

/**
 * Serves the claims API for a local stack on 127.0.0.1.
 * @throws ApiListenError when the port is taken.
 */
export async function startLocalApi(
  stack: Omit<LocalStack, 'driver' | 'source'>,
  options: LocalApiOptions,
): Promise<LocalApi> {
  const wake = new InProcessWake(stack, options.onCycles);
  const deps: ApiDeps = {
    store: stack.store,
    queue: stack.queue,
    clock: stack.clock,
    newId: stack.newId,
    config: stack.config,
    idempotency: options.idempotency,
    wake,
    logger: stack.logger,
    metrics: stack.metrics,
  };
  const server = await serveApi((request) => handleApiRequest(deps, request), {
    port: options.port,
    portOption: options.portOption ?? '--api-port',
  });
  return {
    ...server,
    deps,
    close: async () => {
      await server.close();
      await wake.settled();
    },
  };
}
