// Overview: jobs by state, running notebooks, deployments and the versions
// they serve, queue depths and spend per team over time. Refreshes when the
// bus reports a change.
import { Chart, color } from '../components/chart';
import { ErrorBox, Section, StateBadge, fmt, useApi, useRefreshOnEvents, useThrottled } from '../components/ui';
import { spendOverTime } from '../lib/stats';
import { href } from '../lib/route';
import type { Job, Notebook, Status } from '../types';

export function Overview() {
  const status = useApi<Status>('/status');
  const jobs = useApi<{ jobs: Job[] }>('/jobs?max_results=1000');
  const notebooks = useApi<{ notebooks: Notebook[] }>('/notebooks?state=InService');
  const refresh = useThrottled(() => {
    status.reload();
    jobs.reload();
    notebooks.reload();
  }, 1000);
  const streamError = useRefreshOnEvents({ source: [{ prefix: 'tandem.' }] }, refresh);
  const s = status.data;
  const spend = spendOverTime(jobs.data?.jobs ?? []);
  return (
    <>
      <h1>Overview</h1>
      <ErrorBox error={status.error ?? jobs.error ?? streamError} />
      <div class="grid">
        <Section title="Jobs by state">
          <table data-testid="jobs-by-state">
            <tbody>
              {Object.entries(s?.jobs?.by_state ?? {}).map(([state, n]) => (
                <tr key={state}>
                  <td>
                    <a href={href('jobs') + '?state=' + state}>
                      <StateBadge state={state} />
                    </a>
                  </td>
                  <td class="num">{n}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted">{s?.jobs?.total ?? 0} jobs · {s?.models.count ?? 0} models</p>
        </Section>
        <Section title="Deployments">
          {s && s.deployments.length === 0 && <p class="muted">no deployments</p>}
          <table>
            <tbody>
              {s?.deployments.map((d) => (
                <tr key={d.name}>
                  <td>
                    <a href={href('deployments', d.name)}>{d.name}</a>
                  </td>
                  <td>{d.model}</td>
                  <td>
                    {d.ready}/{d.desired} ready
                  </td>
                  <td>v{d.versions.join(', v') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title="Running notebooks">
          {(notebooks.data?.notebooks ?? []).length === 0 && <p class="muted">none running</p>}
          <ul>
            {notebooks.data?.notebooks.map((n) => (
              <li key={n.name}>
                {n.name} <span class="muted">({n.team})</span>
              </li>
            ))}
          </ul>
        </Section>
        <Section title="Queues">
          {s && s.queues.length === 0 && <p class="muted">no queues</p>}
          <table>
            <tbody>
              {s?.queues.map((qu) => (
                <tr key={qu.name}>
                  <td>{qu.name}</td>
                  <td class="num">{qu.visible} visible</td>
                  <td class="num">{qu.in_flight} in flight</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      </div>
      <Section title="Spend per team over time">
        <Chart
          title="cumulative cost ($)"
          time
          columns={spend.columns}
          series={spend.teams.map((t, i) => ({ label: t, color: color(i) }))}
          testId="spend-chart"
        />
        <table>
          <tbody>
            {s?.spend?.map((t) => (
              <tr key={t.team}>
                <td>{t.team}</td>
                <td class="num">{t.jobs} jobs</td>
                <td class="num">{fmt.secs(t.cpu_seconds)} CPU</td>
                <td class="num">{fmt.money(t.cost)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
