/** The claims API's handler over in-memory adapters, with a wake that records its calls. */

import { MemoryIdempotencyStore } from '../../lib/adapters/memory/memory-idempotency-store.ts';
import type { ApiDeps } from '../../lib/api/handler.ts';
import { handleApiRequest } from '../../lib/api/handler.ts';
import type { ApiRequest, ApiResponse } from '../../lib/api/http.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import type { IdempotencyStore } from '../../lib/ports/idempotency-store.ts';
import type { PlannerWake } from '../../lib/ports/planner-wake.ts';
import type { PoolStore } from '../../lib/ports/pool-store.ts';
import type { LogFields, Logger } from '../../lib/ports/telemetry.ts';
import { plannerHarness } from './app-harness.ts';

/** A wake that counts its calls and fails while `failing` is set. */
export class RecordingWake implements PlannerWake {
  calls = 0;
  failing = false;
  async wake(): Promise<void> {
    this.calls += 1;
    if (this.failing) throw new Error('wake refused (test)');
  }
}

/** A logger that keeps every line. */
export class RecordingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  debug(message: string, fields?: LogFields) {
    this.lines.push({ level: 'debug', message, ...(fields ? { fields } : {}) });
  }
  info(message: string, fields?: LogFields) {
    this.lines.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: LogFields) {
    this.lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: LogFields) {
    this.lines.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
}

/** API deps over fresh in-memory adapters (or the store and idempotency store given). */
export function apiHarness(
  rawConfig: Record<string, unknown> = {},
  options: { store?: PoolStore; idempotency?: IdempotencyStore } = {},
) {
  const h = plannerHarness(rawConfig);
  const store = options.store ?? h.store;
  const idempotency = options.idempotency ?? new MemoryIdempotencyStore();
  const wake = new RecordingWake();
  const logger = new RecordingLogger();
  const deps: ApiDeps = {
    store,
    queue: h.queue,
    clock: h.clock,
    newId: h.deps.newId,
    config: h.deps.config,
    idempotency,
    wake,
    logger,
    metrics: h.metrics,
  };
  let keys = 0;
  /** A POST with a fresh idempotency key (or the one given). */
  const post = (path: string, body?: unknown, key?: string | null): Promise<ApiResponse> => {
    keys += 1;
    const headers: Record<string, string> = {};
    if (key !== null) headers['idempotency-key'] = key ?? `key-${keys}`;
    return handleApiRequest(deps, {
      method: 'POST',
      path,
      headers,
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
  };
  const get = (path: string) => handleApiRequest(deps, { method: 'GET', path, headers: {} });
  const send = (request: ApiRequest) => handleApiRequest(deps, request);
  return {
    ...h,
    config: parseConfig(rawConfig),
    store,
    deps,
    idempotency,
    wake,
    logger,
    post,
    get,
    send,
  };
}

/** The parsed JSON body of a response. */
// biome-ignore lint/suspicious/noExplicitAny: test helper reading arbitrary JSON
export function json(response: ApiResponse): any {
  return JSON.parse(response.body);
}
