// Pure data shaping for the charts and tables (unit-tested with node --test).
import type { BusEvent, MetricPoint, ReplicaSample } from '../types';

// The value below which a fraction `q` of the observations fall, from
// cumulative histogram bucket counts (the last one +Inf), interpolated
// linearly inside the bucket like Prometheus' histogram_quantile. Returns
// null with no observations; the highest finite bound if the quantile falls
// into +Inf.
export function histogramQuantile(q: number, bounds: number[], cumulative: number[]): number | null {
  const total = cumulative[cumulative.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < cumulative.length; i++) {
    if (cumulative[i] >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : cumulative[i - 1];
      const inBucket = cumulative[i] - below;
      if (inBucket <= 0) return bounds[i];
      return lower + (bounds[i] - lower) * ((rank - below) / inBucket);
    }
  }
  return bounds[bounds.length - 1] ?? null;
}

export interface WindowStats {
  rps: number;
  errorsPerSecond: number;
  p50ms: number | null;
  p99ms: number | null;
}

// A counter's increase between two scrapes; a smaller value means the
// replica restarted and its counter began again at 0.
const increase = (before: number | undefined, after: number | undefined): number => {
  const a = after ?? 0;
  const b = before ?? 0;
  return a >= b ? a - b : a;
};

// Request rate and latency quantiles over the window between two scrapes of
// a deployment's replicas (matched by replica index; a replica new in `cur`
// counts from zero).
export function windowStats(prev: ReplicaSample[], cur: ReplicaSample[], seconds: number): WindowStats {
  const byIndex = new Map(prev.map((r) => [r.index, r]));
  let requests = 0;
  let failures = 0;
  let bounds: number[] = [];
  let buckets: number[] = [];
  for (const r of cur) {
    if (r.error !== undefined) continue;
    const p = byIndex.get(r.index);
    const restarted = p !== undefined && (r.requests ?? 0) < (p.requests ?? 0);
    const before = restarted || p?.error !== undefined ? undefined : p;
    requests += increase(before?.requests, r.requests);
    failures += increase(before?.failures, r.failures);
    if (r.latency) {
      if (bounds.length === 0) {
        bounds = r.latency.bounds;
        buckets = new Array(r.latency.cumulative.length).fill(0);
      }
      if (r.latency.cumulative.length === buckets.length) {
        r.latency.cumulative.forEach((c, i) => {
          buckets[i] += increase(before?.latency?.cumulative[i], c);
        });
      }
    }
  }
  const s = seconds > 0 ? seconds : 1;
  const ms = (v: number | null) => (v === null ? null : v * 1000);
  return {
    rps: requests / s,
    errorsPerSecond: failures / s,
    p50ms: ms(histogramQuantile(0.5, bounds, buckets)),
    p99ms: ms(histogramQuantile(0.99, bounds, buckets)),
  };
}

// The best objective seen up to each trial, in trial order (nulls carry the
// previous best; leading nulls stay null).
export function bestSoFar(values: (number | null)[], maximize: boolean): (number | null)[] {
  let best: number | null = null;
  return values.map((v) => {
    if (v !== null && (best === null || (maximize ? v > best : v < best))) best = v;
    return best;
  });
}

// A job metric's points as chart columns [x, y] for the latest attempt, in
// step order (x = step).
export function metricColumns(points: MetricPoint[]): [number[], number[]] {
  if (points.length === 0) return [[], []];
  const attempt = Math.max(...points.map((p) => p.attempt));
  const latest = points.filter((p) => p.attempt === attempt).sort((a, b) => a.step - b.step);
  return [latest.map((p) => p.step), latest.map((p) => p.value)];
}

export type SortDir = 'asc' | 'desc';

// Sorts rows by a key; nulls and undefined always last.
export function sortRows<T>(rows: T[], key: (row: T) => number | string | null | undefined, dir: SortDir): T[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sign;
  });
}

// A rolling window of chart samples: appends (x, ys) and keeps the newest `max`.
export function appendSample(columns: number[][], x: number, ys: (number | null)[], max: number): number[][] {
  const next = columns.length ? columns.map((c) => [...c]) : [[] as number[], ...ys.map(() => [] as number[])];
  next[0].push(x);
  ys.forEach((y, i) => next[i + 1].push(y as number));
  if (next[0].length > max) for (const c of next) c.splice(0, c.length - max);
  return next;
}

// Cumulative spend per team over time from ended jobs (x = end time in
// seconds, one series per team, teams sorted by name).
export function spendOverTime(jobs: { team: string; ended?: string; metering: { cost: number } }[]): { teams: string[]; columns: number[][] } {
  const ended = jobs.filter((j) => j.ended).sort((a, b) => Date.parse(a.ended!) - Date.parse(b.ended!));
  const teams = [...new Set(ended.map((j) => j.team))].sort();
  const totals = new Map(teams.map((t) => [t, 0]));
  const columns: number[][] = [[], ...teams.map(() => [])];
  for (const j of ended) {
    totals.set(j.team, totals.get(j.team)! + j.metering.cost);
    columns[0].push(Date.parse(j.ended!) / 1000);
    teams.forEach((t, i) => columns[i + 1].push(totals.get(t)!));
  }
  return { teams, columns };
}

export type JobKind = 'training' | 'transform' | 'trial';

// A job's kind: transform jobs are listed by /transform-jobs; a tuning
// job's trials are named "<tuning job>-<trial index>".
export function jobKind(job: { id: string; name: string }, transformIds: Set<string>, tuningNames: string[]): JobKind {
  if (transformIds.has(job.id)) return 'transform';
  const m = /^(.*)-(\d+)$/.exec(job.name);
  if (m && tuningNames.some((t) => t.slice(0, 63 - (m[2].length + 1)) === m[1])) return 'trial';
  return 'training';
}

// Events of both lists, each once (by sequence number), in bus order: merges
// a page's fetched history with what its live stream delivered.
export function mergeBySeq(a: BusEvent[], b: BusEvent[]): BusEvent[] {
  const seen = new Map<number, BusEvent>();
  for (const e of [...a, ...b]) seen.set(e.seq, e);
  return [...seen.values()].sort((x, y) => x.seq - y.seq);
}
