// Deployments: replicas and the version each serves, live req/s and p50/p99
// from the replicas' metrics (pushed by GET /deployments/{name}/metrics/stream),
// shadow and canary statistics, and scaling.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { enc, getJson, sendJson, streamNdjson } from '../api';
import { Chart, color } from '../components/chart';
import { ErrorBox, KeyValues, Section, StateBadge, describe, useApi, useRefreshOnEvents, useSettledRefresh, useThrottled } from '../components/ui';
import { href } from '../lib/route';
import { appendSample, windowStats } from '../lib/stats';
import type { Deployment, DeploymentMetrics } from '../types';

const SERVING_EVENTS = { source: ['tandem.serving'] };
const WINDOW = 120; // samples kept on the live charts

export function DeploymentsList() {
  const list = useApi<{ deployments: Deployment[] }>('/deployments');
  useRefreshOnEvents(SERVING_EVENTS, useThrottled(list.reload, 500));
  return (
    <>
      <h1>Deployments</h1>
      <ErrorBox error={list.error} />
      <table class="list" data-testid="deployments-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Model</th>
            <th class="num">Ready</th>
            <th>Versions served</th>
            <th>Endpoint</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.deployments.map((d) => (
            <tr key={d.spec.name}>
              <td>
                <a href={href('deployments', d.spec.name)}>{d.spec.name}</a>
              </td>
              <td>{d.spec.model}</td>
              <td class="num">
                {d.ready}/{d.desired}
              </td>
              <td>{[...new Set(d.replicas.map((r) => r.version).filter((v) => v > 0))].map((v) => 'v' + v).join(', ')}</td>
              <td>
                <code>{d.endpoint}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.deployments.length === 0 && <p class="muted">no deployments (`tandem deployments apply -f deploy.yaml`)</p>}
    </>
  );
}

// Live request rate and latency quantiles: every pushed scrape is compared
// with the previous one.
function useServingCharts(name: string) {
  const [rate, setRate] = useState<number[][]>([]);
  const [latency, setLatency] = useState<number[][]>([]);
  const [error, setError] = useState<string>();
  const [latest, setLatest] = useState<DeploymentMetrics | null>(null);
  const prev = useRef<DeploymentMetrics | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    prev.current = null;
    setRate([]);
    setLatency([]);
    streamNdjson<DeploymentMetrics>(
      `/deployments/${enc(name)}/metrics/stream`,
      (m) => {
        const p = prev.current;
        prev.current = m;
        setLatest(m);
        if (!p) return;
        const w = windowStats(p.replicas, m.replicas, (m.time_ms - p.time_ms) / 1000);
        const x = m.time_ms / 1000;
        setRate((c) => appendSample(c, x, [w.rps, w.errorsPerSecond], WINDOW));
        setLatency((c) => appendSample(c, x, [w.p50ms, w.p99ms], WINDOW));
      },
      ctl.signal,
    ).catch((e) => setError(describe(e)));
    return () => ctl.abort();
  }, [name]);
  return { rate, latency, error, latest };
}

// Which replicas run which version (ready ones only: the others' versions are unknown).
function replicaSignature(replicas: { index: number; state: string; version: number }[] | undefined): string {
  return (replicas ?? [])
    .filter((r) => r.state === 'ready')
    .map((r) => `${r.index}:${r.version}`)
    .sort()
    .join(',');
}

export function DeploymentPage({ name }: { name: string }) {
  const dep = useApi<Deployment>(`/deployments/${enc(name)}`);
  const [traffic, setTraffic] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<string>();
  const charts = useServingCharts(name);
  useRefreshOnEvents({ source: ['tandem.serving'], detail: { deployment: [name] } }, useSettledRefresh(dep.reload, 1000));
  const d = dep.data;
  // The pushed scrapes also tell when replicas start, stop or swap versions.
  const reload = useThrottled(dep.reload, 1000);
  const scraped = replicaSignature(charts.latest?.replicas.map((r) => ({ index: r.index, state: r.state ?? '', version: r.version ?? 0 })));
  const shown = replicaSignature(d?.replicas);
  useEffect(() => {
    if (charts.latest && d && scraped !== shown) reload();
  }, [scraped, shown]);
  const hasPolicy = d !== undefined && (d.spec.shadow !== undefined || d.spec.canary !== undefined);
  useEffect(() => {
    if (!hasPolicy) return;
    const load = () =>
      getJson<Record<string, unknown>>(`/deployments/${enc(name)}/traffic`)
        .then(setTraffic)
        .catch((e) => setError(describe(e)));
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [name, hasPolicy]);
  if (!d) return <ErrorBox error={dep.error} />;
  const scale = (n: number) =>
    sendJson('POST', `/deployments/${enc(name)}/scale`, { replicas: n }).then(dep.reload, (e) => setError(describe(e)));
  const model = d.spec.model.split(/[@/]/)[0];
  return (
    <>
      <h1>{d.spec.name}</h1>
      <p class="muted">
        serves <a href={href('models', model)}>{d.spec.model}</a> · <code>{d.endpoint}</code> · replicas min {d.spec.replicas.min}, max {d.spec.replicas.max}
      </p>
      <ErrorBox error={error ?? dep.error ?? charts.error} />
      <Section
        title={`Replicas (${d.ready}/${d.desired} ready)`}
        actions={
          <span class="actions">
            <button onClick={() => scale(Math.max(0, d.desired - 1))} aria-label="scale down" disabled={d.desired <= 0}>
              − replica
            </button>
            <button onClick={() => scale(d.desired + 1)} aria-label="scale up">
              + replica
            </button>
          </span>
        }
      >
        <table class="list" data-testid="replicas-table">
          <thead>
            <tr>
              <th>Replica</th>
              <th>State</th>
              <th>Version</th>
              <th class="num">PID</th>
              <th class="num">Restarts</th>
            </tr>
          </thead>
          <tbody>
            {d.replicas.map((r) => (
              <tr key={r.index}>
                <td>#{r.index}</td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td data-testid="replica-version">{r.version > 0 ? 'v' + r.version : '—'}</td>
                <td class="num">{r.pid || '—'}</td>
                <td class="num">{r.restarts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <div class="grid two">
        <Section title="Requests per second">
          <Chart
            title="req/s (all replicas)"
            time
            columns={charts.rate}
            series={[
              { label: 'req/s', color: color(0) },
              { label: 'errors/s', color: color(1) },
            ]}
            testId="rps-chart"
          />
        </Section>
        <Section title="Latency">
          <Chart
            title="ms"
            time
            columns={charts.latency}
            series={[
              { label: 'p50', color: color(2) },
              { label: 'p99', color: color(3) },
            ]}
            testId="latency-chart"
          />
        </Section>
      </div>
      {hasPolicy && (
        <Section title="Shadow and canary">
          <KeyValues
            entries={[
              ...(d.spec.shadow ? ([['shadow', <code>{JSON.stringify(d.spec.shadow)}</code>]] as [string, ComponentChildren][]) : []),
              ...(d.spec.canary ? ([['canary', <code>{JSON.stringify(d.spec.canary)}</code>]] as [string, ComponentChildren][]) : []),
            ]}
          />
          <pre class="json" data-testid="traffic">{traffic ? JSON.stringify(traffic, null, 2) : 'loading…'}</pre>
        </Section>
      )}
    </>
  );
}
