/**
 * Tier 0: the alarms and the dashboard watch only what the code emits (a metric of `METRICS`, in
 * `METRICS_NAMESPACE`, with exactly its dimensions and Powertools' `service`), every alarm
 * notifies the topic and links to an existing section of docs/runbook.md, and the alarm set
 * covers what the issue asks for.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { emittedDimensionNames, POWERTOOLS_SERVICE_DIMENSION } from '../../cdk/metrics.ts';
import { API_LATENCY_P99_LIMIT_MS, RUNBOOK_SECTIONS } from '../../cdk/monitoring.ts';
import {
  METRICS,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from '../../lib/config/deployment.ts';
import { type Json, resourcesOf, type Synthesized, synth } from './support/synth.ts';

const runbook = readFileSync(new URL('../../docs/runbook.md', import.meta.url), 'utf8');

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

const ANCHORS = new Set([...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) => anchorOf(m[1]!)));

function alarms(s: Synthesized): Array<[string, Record<string, Json>]> {
  return resourcesOf(s.json, 'AWS::CloudWatch::Alarm');
}

/** An alarm's id: the part of its name after the stack's name. */
function alarmId(s: Synthesized, props: Record<string, Json>): string {
  return String(props.AlarmName).slice(s.stack.stackName.length + 1);
}

describe.each(['noop', 'everything'] as const)('the alarms of the %s stack', (variant) => {
  const s = synth(variant);
  const pools = s.deployment.config.pools.map((p) => p.name);

  it('cover the DLQs, the queue age, the executor, the planner, the Scheduler, spares, credentials and operator work', () => {
    expect(
      alarms(s)
        .map(([, p]) => alarmId(s, p))
        .sort(),
    ).toStrictEqual(Object.keys(RUNBOOK_SECTIONS).sort());
  });

  it.each(Object.keys(RUNBOOK_SECTIONS))(
    '%s notifies the topic on ALARM and OK, and links to its runbook section',
    (id) => {
      const [, p] = alarms(s).find(([, a]) => alarmId(s, a) === id)!;
      const topicId = resourcesOf(s.json, 'AWS::SNS::Topic')[0]![0];
      expect(p.AlarmActions).toStrictEqual([{ Ref: topicId }]);
      expect(p.OKActions).toStrictEqual([{ Ref: topicId }]);
      const section = RUNBOOK_SECTIONS[id as keyof typeof RUNBOOK_SECTIONS];
      expect(p.AlarmDescription).toContain(`${s.deployment.stack.runbook_url}#${section}`);
      expect(ANCHORS, `docs/runbook.md has no section #${section}`).toContain(section);
    },
  );

  it('watch only metrics the code emits, with exactly the dimensions it emits them with', () => {
    const ours = alarms(s).filter(([, p]) => p.Namespace === METRICS_NAMESPACE);
    expect(ours.length).toBeGreaterThanOrEqual(4);
    for (const [id, p] of ours) {
      expect(Object.keys(METRICS), id).toContain(p.MetricName);
      const dims = p.Dimensions as Array<{ Name: string; Value: string }>;
      expect(dims.map((d) => d.Name).sort(), id).toStrictEqual(
        emittedDimensionNames(p.MetricName as MetricName),
      );
      const byName = Object.fromEntries(dims.map((d) => [d.Name, d.Value]));
      expect(byName[POWERTOOLS_SERVICE_DIMENSION], id).toBe(SERVICE_NAME);
      if (byName.Pool !== undefined) expect(pools, id).toContain(byName.Pool);
    }
    for (const [id, p] of alarms(s).filter(([, a]) => a.Namespace !== METRICS_NAMESPACE)) {
      expect(['AWS/SQS', 'AWS/Lambda', 'AWS/Scheduler'], id).toContain(p.Namespace);
    }
  });

  it('call the planner not running after 3 intervals without a cycle, missing data included', () => {
    const [, p] = alarms(s).find(([, a]) => alarmId(s, a) === 'PlannerNotRunning')!;
    expect(p.MetricName).toBe(METRICS.PlannerRun.name);
    expect(p.Period).toBe(s.deployment.config.housekeeping_interval);
    expect(p.EvaluationPeriods).toBe(3);
    expect(p.DatapointsToAlarm).toBe(3);
    expect(p.TreatMissingData).toBe('breaching');
    expect(p.ComparisonOperator).toBe('LessThanThreshold');
    expect(p.Threshold).toBe(1);
  });

  it('call spares below target after the configured number of consecutive cycles', () => {
    const [, p] = alarms(s).find(([, a]) => alarmId(s, a) === 'SparesBelowTarget')!;
    expect(p.MetricName).toBe(METRICS.SpareDeficit.name);
    expect(p.Period).toBe(s.deployment.config.housekeeping_interval);
    expect(p.EvaluationPeriods).toBe(s.deployment.stack.spares_below_target_cycles);
    expect(p.DatapointsToAlarm).toBe(s.deployment.stack.spares_below_target_cycles);
    expect(p.Statistic).toBe('Minimum');
  });

  it("watch the claims API's function URL: any 5xx in five minutes, p99 above the limit for 15 minutes", () => {
    const api = Object.entries(s.json.Resources).find(
      ([, r]) =>
        r.Type === 'AWS::Lambda::Function' &&
        String(r.Metadata?.['aws:cdk:path']).includes('/ClaimsApi/Api/'),
    )![0];
    const byId = (id: string) => alarms(s).find(([, a]) => alarmId(s, a) === id)![1];
    const errors = byId('ApiServerErrors');
    expect(errors).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Url5xxCount',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: api } }],
    });
    const slow = byId('ApiSlow');
    expect(slow).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'UrlRequestLatency',
      ExtendedStatistic: 'p99',
      Period: 300,
      EvaluationPeriods: 3,
      Threshold: API_LATENCY_P99_LIMIT_MS,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: api } }],
    });
  });

  it('watch the Scheduler in the schedule group of this stack', () => {
    const [[, schedule]] = resourcesOf(s.json, 'AWS::Scheduler::Schedule') as [[string, Json]];
    const scheduler = alarms(s).filter(([, p]) => p.Namespace === 'AWS/Scheduler');
    expect(scheduler.map(([, p]) => p.MetricName).sort()).toStrictEqual([
      'InvocationDroppedCount',
      'TargetErrorCount',
    ]);
    for (const [, p] of scheduler) {
      expect(p.Dimensions).toStrictEqual([{ Name: 'ScheduleGroup', Value: schedule.GroupName }]);
    }
  });
});

/** The dashboard's body with every token replaced by a placeholder, parsed. */
function dashboardBody(s: Synthesized): Json {
  const [[, d]] = resourcesOf(s.json, 'AWS::CloudWatch::Dashboard') as [[string, Json]];
  const parts = d.DashboardBody['Fn::Join'][1] as Json[];
  return JSON.parse(parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
}

describe.each(['noop', 'everything'] as const)('the dashboard of the %s stack', (variant) => {
  const s = synth(variant);
  const body = dashboardBody(s);
  const widgets = body.widgets as Json[];
  const titles = widgets.map((w) => w.properties?.title).filter(Boolean);

  it('shows what operators watch: spares per pool, states, caps, tasks, errors, queues, functions, Scheduler, alarms', () => {
    for (const pool of s.deployment.config.pools.map((p) => p.name)) {
      expect(titles).toContain(`Spares vs target (pool ${pool})`);
      expect(titles).toContain(`Amphorae by state (pool ${pool})`);
    }
    for (const title of [
      'Deploying vs cap',
      'Preserved vs max',
      'Tasks sent and handled, by outcome',
      'Errors by class',
      'Queue depth',
      'Dead-letter queues',
      'planner: invocations, errors, throttles',
      'executor: invocations, errors, throttles',
      'planner: duration',
      'executor: duration',
      'claims API: requests and answers',
      'claims API: latency',
      'Scheduler',
      'Alarms',
    ]) {
      expect(titles).toContain(title);
    }
    const alarmWidget = widgets.find((w) => w.properties?.title === 'Alarms');
    expect(alarmWidget.properties.alarms).toHaveLength(Object.keys(RUNBOOK_SECTIONS).length);
  });

  it('graphs only metrics the code emits, with their emitted dimensions', () => {
    const ours: Array<{ name: string; dims: string[] }> = [];
    const searches: string[] = [];
    for (const w of widgets) {
      for (const m of (w.properties?.metrics ?? []) as Json[][]) {
        const first = m[0];
        if (typeof first === 'object' && first?.expression) {
          searches.push(first.expression);
          continue;
        }
        if (m[0] !== METRICS_NAMESPACE) continue;
        // [namespace, name, dim, value, dim, value, ..., {options}]
        const fields = m.filter((x) => typeof x === 'string') as string[];
        const dims = fields.slice(2).filter((_, i) => i % 2 === 0);
        ours.push({ name: fields[1]!, dims: dims.sort() });
      }
    }
    expect(ours.length).toBeGreaterThan(20);
    for (const { name, dims } of ours) {
      expect(Object.keys(METRICS)).toContain(name);
      expect(dims, name).toStrictEqual(emittedDimensionNames(name as MetricName));
    }
    expect(searches.length).toBeGreaterThanOrEqual(3);
    for (const e of searches) {
      const m = /^SEARCH\('\{([^}]+)\} MetricName="(\w+)" service="([^"]+)"'/.exec(e);
      expect(m, e).not.toBeNull();
      const [namespace, ...dims] = m![1]!.split(',');
      expect(namespace).toBe(METRICS_NAMESPACE);
      expect(dims).toStrictEqual(emittedDimensionNames(m![2] as MetricName));
      expect(m![3]).toBe(SERVICE_NAME);
    }
  });
});
