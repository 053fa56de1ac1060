// Notebooks: start, stop and open managed Jupyter notebooks.
import { useState } from 'preact/hooks';
import { enc, getJson, sendJson } from '../api';
import { ErrorBox, StateBadge, describe, useApi, useRefreshOnEvents, useThrottled } from '../components/ui';
import type { Notebook } from '../types';

export function Notebooks() {
  const list = useApi<{ notebooks: Notebook[] }>('/notebooks?max_results=200');
  const [name, setName] = useState('');
  const [team, setTeam] = useState('');
  const [error, setError] = useState<string>();
  useRefreshOnEvents({ source: ['tandem.compute'], 'detail-type': ['Notebook Instance State Change'] }, useThrottled(list.reload, 300));
  const act = (p: Promise<unknown>) => p.then(list.reload, (e) => setError(describe(e)));
  const open = (n: string) =>
    getJson<{ url: string }>(`/notebooks/${enc(n)}/url`).then(
      (r) => window.open(r.url, '_blank', 'noopener'),
      (e) => setError(describe(e)),
    );
  return (
    <>
      <h1>Notebooks</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (name) act(sendJson('POST', '/notebooks', team ? { name, team } : { name }));
        }}
      >
        <label>
          Name <input value={name} required onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Team <input value={team} placeholder="default" onInput={(e) => setTeam(e.currentTarget.value)} />
        </label>
        <button type="submit" class="primary" disabled={!name}>
          Start notebook
        </button>
      </form>
      <ErrorBox error={error ?? list.error} />
      <table class="list" data-testid="notebooks-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Team</th>
            <th>State</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.notebooks.map((n) => (
            <tr key={n.name} data-notebook={n.name}>
              <td>{n.name}</td>
              <td>{n.team}</td>
              <td>
                <StateBadge state={n.state} />
              </td>
              <td class="actions">
                <button disabled={n.state !== 'InService'} data-testid="open" onClick={() => open(n.name)}>
                  Open
                </button>
                {(n.state === 'InService' || n.state === 'Pending') && (
                  <button data-testid="stop" onClick={() => act(sendJson('POST', `/notebooks/${enc(n.name)}/stop`))}>
                    Stop
                  </button>
                )}
                {(n.state === 'Stopped' || n.state === 'Failed') && (
                  <button onClick={() => act(sendJson('POST', '/notebooks', { name: n.name, team: n.team }))}>Start</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.notebooks.length === 0 && <p class="muted">no notebooks</p>}
    </>
  );
}
