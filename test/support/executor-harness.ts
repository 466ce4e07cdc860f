/** An executor on the in-memory adapters and the noop driver, for executor unit tests. */
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../lib/adapters/memory/manual-clock.ts';
import { MemoryCloudState } from '../../lib/adapters/memory/memory-cloud-state.ts';
import { MemoryPoolStore } from '../../lib/adapters/memory/memory-pool-store.ts';
import { MemoryTaskQueue } from '../../lib/adapters/memory/memory-task-queue.ts';
import { type ExecutorDeps, executeMessage } from '../../lib/app/execute-task.ts';
import { parseConfig } from '../../lib/config/schema.ts';
import type { AmphoraRecord } from '../../lib/domain/amphora.ts';
import {
  decodeTask,
  encodeTask,
  type RecordTask,
  TASK_SCHEMA_VERSION,
  type Task,
} from '../../lib/domain/tasks.ts';
import { NoopCloudControl, NoopDriver } from '../../lib/drivers/noop/noop-driver.ts';
import type { AmphoraDriver } from '../../lib/ports/amphora-driver.ts';
import type { Metrics } from '../../lib/ports/telemetry.ts';
import { silentLogger } from '../../lib/ports/telemetry.ts';

/** A metrics sink that remembers counters, for assertions. */
export class RecordingMetrics implements Metrics {
  readonly counts: Array<{ name: string; value: number; dimensions?: Record<string, string> }> = [];
  count(name: string, value = 1, dimensions?: Record<string, string>): void {
    this.counts.push({ name, value, ...(dimensions ? { dimensions: { ...dimensions } } : {}) });
  }
  readonly gauges: Array<{ name: string; value: number; dimensions?: Record<string, string> }> = [];
  gauge(name: string, value: number, dimensions?: Record<string, string>): void {
    this.gauges.push({ name, value, ...(dimensions ? { dimensions: { ...dimensions } } : {}) });
  }
  total(name: string): number {
    return this.counts.filter((c) => c.name === name).reduce((s, c) => s + c.value, 0);
  }
}

/** Builds an executor world. `driver` may wrap the noop driver to inject behaviour. */
export function executorHarness(
  options: {
    config?: Record<string, unknown>;
    bootSeconds?: number;
    snapshotSeconds?: number;
    wrapDriver?: (d: NoopDriver, h: { store: MemoryPoolStore }) => AmphoraDriver;
  } = {},
) {
  const clock = new ManualClock();
  const store = new MemoryPoolStore();
  const queue = new MemoryTaskQueue(clock);
  const cloud = new MemoryCloudState();
  const noop = new NoopDriver({ state: cloud, clock, newId: randomUUID }, 'amphora-housekeeper', {
    bootSeconds: options.bootSeconds ?? 0,
    bootFailureRate: 0,
    snapshotSeconds: options.snapshotSeconds ?? 0,
  });
  const control = new NoopCloudControl(cloud, randomUUID);
  const metrics = new RecordingMetrics();
  const config = parseConfig({ maximum_preserved_amphora_count: 2, ...options.config });
  const driver = options.wrapDriver ? options.wrapDriver(noop, { store }) : noop;
  const deps: ExecutorDeps = {
    store,
    queue,
    driver,
    clock,
    newId: randomUUID,
    config,
    logger: silentLogger,
    metrics,
  };
  let messages = 0;
  return {
    clock,
    store,
    queue,
    noop,
    cloud,
    control,
    metrics,
    config,
    deps,
    /** Stores a record (as the planner would have written it). */
    async given(record: AmphoraRecord): Promise<AmphoraRecord> {
      await store.create(record);
      return record;
    },
    /** The task message for a record at its current version. */
    taskFor(record: AmphoraRecord, type: RecordTask['type'] = record.task!.type): RecordTask {
      return {
        v: TASK_SCHEMA_VERSION,
        type,
        taskId: randomUUID(),
        issuedAt: clock.now(),
        amphoraId: record.id,
        version: record.version,
      };
    },
    /** A SWEEP task message. */
    sweepTask(): Task {
      return { v: TASK_SCHEMA_VERSION, type: 'SWEEP', taskId: randomUUID(), issuedAt: clock.now() };
    },
    /** Delivers one task (receiveCount defaults to 1) and returns the report. */
    run(task: Task | string, receiveCount = 1) {
      messages += 1;
      return executeMessage(deps, {
        messageId: `m-${messages}`,
        body: typeof task === 'string' ? task : encodeTask(task),
        receiveCount,
      });
    },
    /** Tasks sent to the queue so far, decoded. */
    sent(): Array<Task & { delaySeconds: number }> {
      return queue.sent.map((s) => ({ ...decodeTask(s.body), delaySeconds: s.delaySeconds }));
    },
    async record(id: string): Promise<AmphoraRecord> {
      const r = await store.get(id);
      if (!r) throw new Error(`no record ${id}`);
      return r;
    },
    /** Driver operations called so far, in order. */
    ops(): string[] {
      return noop.calls.map((c) => c.operation);
    },
  };
}
