// Jobs: a filterable list (team, state, kind) and a job page with its state
// history, live log, live metric charts, hyperparameters, inputs, cost and
// the model version it registered.
import { useEffect, useRef, useState } from 'preact/hooks';
import { enc, getJson, q, sendJson, streamText } from '../api';
import { Chart, color } from '../components/chart';
import { ErrorBox, KeyValues, Section, StateBadge, describe, fmt, useApi, useEvents, useRefreshOnEvents, useSettledRefresh, useThrottled } from '../components/ui';
import { href } from '../lib/route';
import { jobKind, mergeBySeq, metricColumns } from '../lib/stats';
import type { BusEvent, Job, MetricPoint, TuningJob } from '../types';

const STATES = ['Pending', 'Starting', 'Running', 'Stopping', 'Completed', 'Failed', 'Stopped'];
const TERMINAL = new Set(['Completed', 'Failed', 'Stopped']);

export function JobsList() {
  const params = new URLSearchParams(location.search);
  const [team, setTeam] = useState(params.get('team') ?? '');
  const [state, setState] = useState(params.get('state') ?? '');
  const [kind, setKind] = useState(params.get('kind') ?? '');
  const jobs = useApi<{ jobs: Job[] }>('/jobs' + q({ team, state, max_results: 500 }));
  const transforms = useApi<{ transform_jobs: Job[] }>('/transform-jobs?max_results=500');
  const tunings = useApi<{ tuning_jobs: TuningJob[] }>('/tuning-jobs?max_results=500');
  const refresh = useThrottled(() => jobs.reload(), 500);
  useRefreshOnEvents({ source: ['tandem.compute'], 'detail-type': ['Training Job State Change'] }, refresh);
  useEffect(() => {
    const s = q({ team, state, kind });
    history.replaceState(null, '', href('jobs') + s);
  }, [team, state, kind]);

  const transformIds = new Set((transforms.data?.transform_jobs ?? []).map((j) => j.id));
  const tuningNames = (tunings.data?.tuning_jobs ?? []).map((t) => t.name);
  const rows = (jobs.data?.jobs ?? [])
    .map((j) => ({ job: j, kind: jobKind(j, transformIds, tuningNames) }))
    .filter((r) => !kind || r.kind === kind);
  return (
    <>
      <h1>Jobs</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Team <input value={team} onInput={(e) => setTeam(e.currentTarget.value)} placeholder="any" />
        </label>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Kind{' '}
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">any</option>
            <option value="training">training</option>
            <option value="transform">transform</option>
            <option value="trial">trial</option>
          </select>
        </label>
      </form>
      <ErrorBox error={jobs.error} />
      <table class="list" data-testid="jobs-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Kind</th>
            <th>Team</th>
            <th>State</th>
            <th>Created</th>
            <th class="num">Duration</th>
            <th class="num">Cost</th>
            <th>Registered</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ job: j, kind: k }) => (
            <tr key={j.id}>
              <td>
                <a href={href('jobs', j.id)}>{j.name}</a>
              </td>
              <td>{k}</td>
              <td>{j.team}</td>
              <td>
                <StateBadge state={j.state} />
              </td>
              <td>{fmt.time(j.created)}</td>
              <td class="num">{fmt.secs(j.duration_seconds)}</td>
              <td class="num">{fmt.money(j.metering.cost)}</td>
              <td>{j.registered ? <a href={href('models', j.registered.name)}>{`${j.registered.name}/${j.registered.version}`}</a> : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {jobs.data && rows.length === 0 && <p class="muted">no jobs match</p>}
    </>
  );
}

// The job's log, followed live while it runs (GET /jobs/{id}/logs?follow=true
// streams until the job ends). `onData` fires for every chunk.
function useLog(id: string, active: boolean, onData: () => void): { text: string; error?: string } {
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const offset = useRef(0);
  const cb = useRef(onData);
  cb.current = onData;
  useEffect(() => {
    offset.current = 0;
    setText('');
  }, [id]);
  useEffect(() => {
    if (!active) return;
    const ctl = new AbortController();
    streamText(
      `/jobs/${enc(id)}/logs` + q({ offset: offset.current, follow: 'true' }),
      (chunk) => {
        offset.current += new TextEncoder().encode(chunk).length;
        setText((t) => t + chunk);
        cb.current();
      },
      ctl.signal,
    ).catch((e) => setError(describe(e)));
    return () => ctl.abort();
  }, [id, active]);
  return { text, error };
}

export function JobPage({ id }: { id: string }) {
  const job = useApi<Job>(`/jobs/${enc(id)}`);
  const [metrics, setMetrics] = useState<Record<string, MetricPoint[]>>({});
  const [history, setHistory] = useState<BusEvent[]>([]);
  const [actionError, setActionError] = useState<string>();
  const loadMetrics = useThrottled(() => {
    getJson<{ metrics: Record<string, MetricPoint[]> }>(`/jobs/${enc(id)}/metrics`)
      .then((m) => setMetrics(m.metrics))
      .catch((e) => setActionError(describe(e)));
  }, 300);
  const pattern = { source: ['tandem.compute'], 'detail-type': ['Training Job State Change'], detail: { job_id: [id] } };
  // State history: the past transitions, then live ones from the stream. The
  // stream starts at the newest event when it connects, so a transition
  // published between the first fetch and that moment would be in neither:
  // fetch the past again once the stream is live and merge by sequence number,
  // and the job and its metrics too (a job that went Running in that window
  // stayed "Starting" on the page, its log never followed).
  const loadHistory = () =>
    getJson<{ events: BusEvent[] }>('/events' + q({ pattern: JSON.stringify(pattern), limit: 1000 }))
      .then((r) => setHistory((h) => mergeBySeq(h, r.events)))
      .catch((e) => setActionError(describe(e)));
  useEffect(() => {
    setHistory([]);
    void loadHistory();
    loadMetrics();
  }, [id]);
  useEvents(
    pattern,
    (e) => {
      setHistory((h) => mergeBySeq(h, [e]));
      job.reload();
      loadMetrics();
    },
    (live) => {
      if (!live) return;
      void loadHistory();
      job.reload();
      loadMetrics();
    },
  );
  const j = job.data;
  const started = j !== undefined && j.state !== 'Pending' && j.state !== 'Starting';
  // Metrics are parsed from the log on the server: fetch them when a chunk
  // arrives, and once more a moment later for lines parsed after the fetch.
  const onLogData = useSettledRefresh(loadMetrics, 1000);
  const log = useLog(id, started, onLogData);
  const logBox = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const el = logBox.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [log.text]);

  if (!j) return <ErrorBox error={job.error} />;
  const stop = () => sendJson('POST', `/jobs/${enc(id)}/stop`).then(job.reload, (e) => setActionError(describe(e)));
  const inputs = (j.spec.inputs ?? {}) as Record<string, unknown>;
  const digests = (j['input_digests'] ?? {}) as Record<string, string>;
  return (
    <>
      <h1>
        {j.name} <StateBadge state={j.state} />
      </h1>
      <p class="muted">
        job {j.id} · team {j.team} · attempt {j.attempt}/{j.max_attempts}
        {!TERMINAL.has(j.state) && (
          <>
            {' '}
            · <button onClick={stop}>Stop</button>
          </>
        )}
      </p>
      <ErrorBox error={job.error ?? actionError ?? log.error} />
      {j.failure_reason && <p class="error">{j.failure_reason}</p>}
      <Section title="Metrics">
        <div class="charts">
          {(j.spec.metric_definitions ?? []).map((d, i) => (
            <Chart
              key={d.name}
              title={d.name}
              xLabel="step"
              columns={metricColumns(metrics[d.name] ?? [])}
              series={[{ label: d.name, color: color(i), points: true }]}
              testId={'metric-' + d.name}
            />
          ))}
        </div>
        {(j.spec.metric_definitions ?? []).length === 0 && <p class="muted">the job defines no metrics</p>}
      </Section>
      <Section title={TERMINAL.has(j.state) ? 'Log' : 'Log (live)'}>
        <pre class="log" ref={logBox} tabIndex={0} data-testid="job-log">
          {log.text || (started ? '' : 'waiting for the job to start…')}
        </pre>
      </Section>
      <div class="grid">
        <Section title="State history">
          <ol class="history" data-testid="state-history">
            {history.map((e) => (
              <li key={e.seq}>
                <StateBadge state={String(e.detail.state)} /> <span class="muted">{fmt.time(e.time)}</span>
              </li>
            ))}
          </ol>
        </Section>
        <Section title="Cost">
          <KeyValues
            entries={[
              ['cost', fmt.money(j.metering.cost)],
              ['CPU', fmt.secs(j.metering.cpu_seconds)],
              ['wall', fmt.secs(j.metering.wall_seconds)],
              ['peak RSS', (j.metering.peak_rss_bytes / 1e6).toFixed(1) + ' MB'],
            ]}
          />
        </Section>
        <Section title="Lineage">
          <KeyValues
            testId="lineage"
            entries={[
              ['image', j.spec.image ?? 'host (no image)'],
              ['code', String(j['code_digest'] ?? '—')],
              ['model artifact', j.model ? j.model.digest : '—'],
              ['registered', j.registered ? <a href={href('models', j.registered.name)}>{`${j.registered.name}/${j.registered.version}`}</a> : '—'],
            ]}
          />
        </Section>
        <Section title="Hyperparameters">
          <KeyValues entries={Object.entries(j.spec.hyperparameters ?? {}).map(([k, v]) => [k, String(v)])} />
        </Section>
        <Section title="Inputs">
          <KeyValues
            entries={Object.entries(inputs).map(([k, v]) => [
              k,
              <>
                {typeof v === 'string' ? v : JSON.stringify(v)}
                {digests[k] && <div class="muted digest">{digests[k]}</div>}
              </>,
            ])}
          />
        </Section>
      </div>
    </>
  );
}
