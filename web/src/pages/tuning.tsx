// Tuning: the tuning jobs, and per job a sortable trials table, the objective
// per trial with the best-so-far curve, and each hyperparameter against the
// objective. Live through the tuning job's state-change events.
import { useState } from 'preact/hooks';
import { enc } from '../api';
import { Chart, color } from '../components/chart';
import { ErrorBox, Section, StateBadge, fmt, useApi, useRefreshOnEvents, useThrottled } from '../components/ui';
import { href } from '../lib/route';
import { bestSoFar, sortRows, type SortDir } from '../lib/stats';
import type { Trial, TuningJob } from '../types';

const TUNING_EVENTS = { source: ['tandem.compute'], 'detail-type': ['Hyperparameter Tuning Job State Change'] };

export function TuningList() {
  const list = useApi<{ tuning_jobs: TuningJob[] }>('/tuning-jobs?max_results=200');
  useRefreshOnEvents(TUNING_EVENTS, useThrottled(list.reload, 500));
  return (
    <>
      <h1>Tuning</h1>
      <ErrorBox error={list.error} />
      <table class="list">
        <thead>
          <tr>
            <th>Name</th>
            <th>State</th>
            <th>Strategy</th>
            <th>Objective</th>
            <th class="num">Trials</th>
            <th class="num">Best</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.tuning_jobs.map((t) => (
            <tr key={t.name}>
              <td>
                <a href={href('tuning', t.name)}>{t.name}</a>
              </td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td>{t.strategy}</td>
              <td>
                {t.objective.type} {t.objective.metric}
              </td>
              <td class="num">
                {t.trials.completed ?? 0}/{t.max_jobs}
              </td>
              <td class="num">{fmt.num(t.best_trial?.objective)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.tuning_jobs.length === 0 && <p class="muted">no tuning jobs yet (`tandem tune run -f tune.yaml`)</p>}
    </>
  );
}

type SortKey = 'index' | 'objective' | 'state';

export function TuningPage({ name }: { name: string }) {
  const rec = useApi<TuningJob>(`/tuning-jobs/${enc(name)}`);
  const trials = useApi<{ trials: Trial[] }>(`/tuning-jobs/${enc(name)}/trials`);
  const [sort, setSort] = useState<{ key: SortKey; dir: SortDir }>({ key: 'objective', dir: 'asc' });
  const [param, setParam] = useState<string>('');
  useRefreshOnEvents(
    { ...TUNING_EVENTS, detail: { name: [name] } },
    useThrottled(() => {
      rec.reload();
      trials.reload();
    }, 500),
  );
  const r = rec.data;
  if (!r) return <ErrorBox error={rec.error} />;
  const all = trials.data?.trials ?? [];
  const maximize = r.objective.type === 'Maximize';
  const byIndex = sortRows(all, (t) => t.index, 'asc');
  const objectives = byIndex.map((t) => t.objective);
  const params = [...new Set(all.flatMap((t) => Object.keys(t.params)))].sort();
  const shown = param || params[0] || '';
  const scatter = sortRows(
    all.filter((t) => t.objective !== null && Number.isFinite(Number(t.params[shown]))),
    (t) => Number(t.params[shown]),
    'asc',
  );
  const rows = sortRows(all, (t) => (sort.key === 'objective' ? t.objective : sort.key === 'state' ? t.state : t.index), sort.dir);
  const header = (key: SortKey, label: string) => {
    const active = sort.key === key;
    return (
      <th aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button class="link" onClick={() => setSort({ key, dir: active && sort.dir === 'asc' ? 'desc' : 'asc' })}>
          {label} {active ? (sort.dir === 'asc' ? '▲' : '▼') : ''}
        </button>
      </th>
    );
  };
  return (
    <>
      <h1>
        {r.name} <StateBadge state={r.state} />
      </h1>
      <p class="muted">
        {r.strategy} · {r.objective.type} {r.objective.metric} · {r.trials.completed ?? 0} of {r.max_jobs} trials completed
        {r.best_trial && (
          <>
            {' '}
            · best: <a href={href('jobs', r.best_trial.job_id)}>trial {r.best_trial.index}</a> ({fmt.num(r.best_trial.objective, 5)})
          </>
        )}
        {r.registered && (
          <>
            {' '}
            · registered <a href={href('models', r.registered.model)}>{`${r.registered.model}/${r.registered.version}`}</a>
          </>
        )}
      </p>
      <ErrorBox error={trials.error} />
      <div class="grid two">
        <Section title="Objective per trial">
          <Chart
            title={r.objective.metric}
            xLabel="trial"
            columns={[byIndex.map((t) => t.index), objectives, bestSoFar(objectives, maximize)]}
            series={[
              { label: 'objective', color: color(0), points: true },
              { label: 'best so far', color: color(1) },
            ]}
            testId="objective-chart"
          />
        </Section>
        <Section
          title="Hyperparameter vs objective"
          actions={
            <select aria-label="hyperparameter" value={shown} onChange={(e) => setParam(e.currentTarget.value)}>
              {params.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          }
        >
          <Chart
            title={`${shown} → ${r.objective.metric}`}
            xLabel={shown}
            scatter
            columns={[scatter.map((t) => Number(t.params[shown])), scatter.map((t) => t.objective)]}
            series={[{ label: r.objective.metric, color: color(2) }]}
            testId="scatter-chart"
          />
        </Section>
      </div>
      <table class="list" data-testid="trials-table">
        <thead>
          <tr>
            {header('index', 'Trial')}
            {header('state', 'State')}
            {header('objective', 'Objective')}
            {params.map((p) => (
              <th key={p}>{p}</th>
            ))}
            <th class="num">CPU</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => (
            <tr key={t.index} class={r.best_trial?.index === t.index ? 'best' : ''}>
              <td>{t.job_id ? <a href={href('jobs', t.job_id)}>{t.index}</a> : t.index}</td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td class="num">{fmt.num(t.objective, 5)}</td>
              {params.map((p) => (
                <td key={p} class="num">
                  {typeof t.params[p] === 'number' ? fmt.num(t.params[p] as number, 4) : String(t.params[p] ?? '')}
                </td>
              ))}
              <td class="num">{fmt.secs(t.cpu_seconds)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
