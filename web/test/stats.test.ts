import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendSample, mergeBySeq, bestSoFar, histogramQuantile, jobKind, metricColumns, sortRows, spendOverTime, windowStats } from '../src/lib/stats';
import type { BusEvent, ReplicaSample } from '../src/types';

test('histogramQuantile interpolates inside the bucket like histogram_quantile', () => {
  // 10 observations: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 above 0.2.
  const bounds = [0.1, 0.2, 0.4];
  assert.equal(histogramQuantile(0.5, bounds, [4, 8, 8, 10]), 0.125);
  assert.equal(histogramQuantile(0.2, bounds, [4, 8, 8, 10]), 0.05);
  assert.equal(histogramQuantile(0.99, bounds, [4, 8, 8, 10]), 0.4); // +Inf bucket: highest bound
  assert.equal(histogramQuantile(0.5, bounds, [0, 0, 0, 0]), null);
  assert.equal(histogramQuantile(0.5, [], []), null);
});

const replica = (index: number, requests: number, cumulative: number[], failures = 0): ReplicaSample => ({
  index,
  requests,
  failures,
  latency: { bounds: [0.001, 0.01, 0.1], cumulative, count: cumulative[cumulative.length - 1], sum: 0 },
});

test('windowStats: rate and quantiles over the window, summed over replicas', () => {
  const prev = [replica(0, 100, [50, 100, 100, 100]), replica(1, 10, [10, 10, 10, 10])];
  const cur = [replica(0, 120, [50, 110, 120, 120], 2), replica(1, 30, [10, 30, 30, 30])];
  const w = windowStats(prev, cur, 2);
  assert.equal(w.rps, 20); // (20 + 20) / 2 s
  assert.equal(w.errorsPerSecond, 1);
  // window buckets: [0, 30, 40, 40] -> p50 at rank 20 inside (1 ms, 10 ms]
  assert.equal(w.p50ms, 1 + 9 * (20 / 30));
  assert.ok(w.p99ms! > 10 && w.p99ms! <= 100);
});

test('windowStats: a restarted replica counts from zero; errors and new replicas are handled', () => {
  const prev = [replica(0, 500, [500, 500, 500, 500]), { index: 1, error: 'down' }];
  const cur = [replica(0, 6, [6, 6, 6, 6]), replica(1, 4, [0, 4, 4, 4]), { index: 2, error: 'starting' }];
  const w = windowStats(prev, cur, 1);
  assert.equal(w.rps, 10);
  assert.equal(windowStats([], [], 1).p50ms, null);
});

test('bestSoFar follows the direction of the objective', () => {
  assert.deepEqual(bestSoFar([null, 3, 5, 2, null, 4], true), [null, 3, 5, 5, 5, 5]);
  assert.deepEqual(bestSoFar([0.5, 0.7, 0.3, 0.4], false), [0.5, 0.5, 0.3, 0.3]);
});

test('metricColumns keeps the latest attempt in step order', () => {
  const p = (attempt: number, step: number, value: number) => ({ attempt, step, value, timestamp: '' });
  assert.deepEqual(metricColumns([p(1, 0, 9), p(2, 1, 0.2), p(2, 0, 0.5)]), [
    [0, 1],
    [0.5, 0.2],
  ]);
  assert.deepEqual(metricColumns([]), [[], []]);
});

test('sortRows puts missing values last in both directions', () => {
  const rows = [{ v: 2 }, { v: null }, { v: 1 }, { v: 3 }];
  assert.deepEqual(sortRows(rows, (r) => r.v, 'asc').map((r) => r.v), [1, 2, 3, null]);
  assert.deepEqual(sortRows(rows, (r) => r.v, 'desc').map((r) => r.v), [3, 2, 1, null]);
});

test('appendSample keeps a rolling window', () => {
  let c: number[][] = [];
  for (let i = 0; i < 5; i++) c = appendSample(c, i, [i * 10, null], 3);
  assert.deepEqual(c, [
    [2, 3, 4],
    [20, 30, 40],
    [null, null, null],
  ]);
});

test('spendOverTime accumulates cost per team by end time', () => {
  const job = (team: string, ended: string | undefined, cost: number) => ({ team, ended, metering: { cost } });
  const s = spendOverTime([job('b', '2026-01-01T00:00:02Z', 2), job('a', '2026-01-01T00:00:01Z', 1), job('a', undefined, 9), job('a', '2026-01-01T00:00:03Z', 0.5)]);
  assert.deepEqual(s.teams, ['a', 'b']);
  assert.deepEqual(s.columns, [
    [Date.parse('2026-01-01T00:00:01Z') / 1000, Date.parse('2026-01-01T00:00:02Z') / 1000, Date.parse('2026-01-01T00:00:03Z') / 1000],
    [1, 1, 1.5],
    [0, 2, 2],
  ]);
});

test('jobKind tells trials and transforms from training jobs', () => {
  const transforms = new Set(['t1']);
  assert.equal(jobKind({ id: 't1', name: 'score' }, transforms, []), 'transform');
  assert.equal(jobKind({ id: 'j1', name: 'hpo-3' }, transforms, ['hpo']), 'trial');
  assert.equal(jobKind({ id: 'j2', name: 'model-3' }, transforms, ['hpo']), 'training');
  assert.equal(jobKind({ id: 'j3', name: 'hpo' }, transforms, ['hpo']), 'training');
});

test('mergeBySeq keeps each event once, in sequence order', () => {
  const ev = (seq: number, state: string) => ({ seq, detail: { state } }) as unknown as BusEvent;
  // The stream delivered 7 before a re-fetch returned 5..7: 6 was in neither
  // the first fetch nor the stream, and must appear once, in order.
  const merged = mergeBySeq([ev(5, 'Pending'), ev(7, 'Completed')], [ev(5, 'Pending'), ev(6, 'Running'), ev(7, 'Completed')]);
  assert.deepEqual(merged.map((e) => e.seq), [5, 6, 7]);
  assert.deepEqual(mergeBySeq([], []), []);
  assert.deepEqual(mergeBySeq([ev(2, 'a')], [ev(1, 'b')]).map((e) => e.seq), [1, 2]);
});
