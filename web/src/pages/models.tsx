// Models: registered models; per model its versions with aliases, tags and
// metrics, the lineage job → version → deployments serving it, and moving an
// alias (with a confirmation).
import { useState } from 'preact/hooks';
import { enc, sendJson } from '../api';
import { Confirm, ErrorBox, KeyValues, Section, describe, fmt, useApi, useRefreshOnEvents, useSettledRefresh, useThrottled } from '../components/ui';
import { href } from '../lib/route';
import type { Deployment, Model, ModelVersion } from '../types';

const REGISTRY_EVENTS = { source: ['tandem.registry'] };

export function ModelsList() {
  const list = useApi<{ models: Model[] }>('/models?max_results=200');
  useRefreshOnEvents(REGISTRY_EVENTS, useThrottled(list.reload, 500));
  return (
    <>
      <h1>Models</h1>
      <ErrorBox error={list.error} />
      <table class="list" data-testid="models-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Team</th>
            <th class="num">Latest</th>
            <th>Aliases</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.models.map((m) => (
            <tr key={m.name}>
              <td>
                <a href={href('models', m.name)}>{m.name}</a>
              </td>
              <td>{m.owner_team}</td>
              <td class="num">{m.latest_version}</td>
              <td>
                {m.aliases.map((a) => (
                  <span class="tag" key={a.alias}>
                    @{a.alias} → v{a.version}
                  </span>
                ))}
              </td>
              <td>{fmt.ms(m.last_updated_timestamp)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.models.length === 0 && <p class="muted">no models registered yet</p>}
    </>
  );
}

// The deployments that serve a version of `model`, and which versions each
// replica serves.
function servingVersions(model: string, deployments: Deployment[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of deployments) {
    const ref = d.spec.model;
    if (ref !== model && !ref.startsWith(model + '@') && !ref.startsWith(model + '/')) continue;
    for (const r of d.replicas) {
      if (r.version <= 0) continue;
      const key = String(r.version);
      const names = out.get(key) ?? [];
      if (!names.includes(d.spec.name)) names.push(d.spec.name);
      out.set(key, names);
    }
  }
  return out;
}

export function ModelPage({ name }: { name: string }) {
  const model = useApi<Model>(`/models/${enc(name)}`);
  const versions = useApi<{ versions: ModelVersion[] }>(`/models/${enc(name)}/versions?max_results=200`);
  const deployments = useApi<{ deployments: Deployment[] }>('/deployments');
  const [move, setMove] = useState<{ alias: string; version: string } | null>(null);
  const [newAlias, setNewAlias] = useState<{ alias: string; version: string }>({ alias: 'champion', version: '' });
  const [error, setError] = useState<string>();
  // A swap event comes before the fleet has probed the replica's new version.
  const refresh = useSettledRefresh(() => {
    model.reload();
    versions.reload();
    deployments.reload();
  }, 1000);
  useRefreshOnEvents({ $or: [{ source: ['tandem.registry'], detail: { name: [name] } }, { source: ['tandem.serving'] }] }, refresh);
  const m = model.data;
  if (!m) return <ErrorBox error={model.error} />;
  const list = [...(versions.data?.versions ?? [])].sort((a, b) => Number(b.version) - Number(a.version));
  const serving = servingVersions(name, deployments.data?.deployments ?? []);
  const doMove = () => {
    const target = move!;
    setMove(null);
    sendJson('PUT', `/models/${enc(name)}/aliases/${enc(target.alias)}`, { version: target.version }).then(refresh, (e) => setError(describe(e)));
  };
  return (
    <>
      <h1>{m.name}</h1>
      <p class="muted">
        team {m.owner_team || '—'} · {m.description || 'no description'}
      </p>
      <ErrorBox error={error ?? versions.error} />
      <div class="grid two">
        <Section title="Aliases">
          <table data-testid="aliases">
            <tbody>
              {m.aliases.map((a) => (
                <tr key={a.alias}>
                  <td>@{a.alias}</td>
                  <td data-testid={'alias-' + a.alias}>v{a.version}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <form
            class="filters"
            onSubmit={(e) => {
              e.preventDefault();
              if (newAlias.alias && newAlias.version) setMove({ ...newAlias });
            }}
          >
            <label>
              Alias <input value={newAlias.alias} data-testid="move-alias-name" onInput={(e) => setNewAlias({ ...newAlias, alias: e.currentTarget.value })} />
            </label>
            <label>
              to version{' '}
              <select value={newAlias.version} data-testid="move-alias-version" onChange={(e) => setNewAlias({ ...newAlias, version: e.currentTarget.value })}>
                <option value="">choose…</option>
                {list.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" data-testid="move-alias" disabled={!newAlias.alias || !newAlias.version}>
              Move alias…
            </button>
          </form>
        </Section>
        <Section title="Tags">
          <KeyValues entries={Object.entries(m.tags).map(([k, v]) => [k, v])} />
        </Section>
      </div>
      <Section title="Versions and lineage">
        <table class="list" data-testid="versions-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Status</th>
              <th>Aliases</th>
              <th>Metrics</th>
              <th>Tags</th>
              <th>Lineage: job → version → deployments</th>
            </tr>
          </thead>
          <tbody>
            {list.map((v) => (
              <tr key={v.version} data-version={v.version}>
                <td>v{v.version}</td>
                <td>{v.status}</td>
                <td>
                  {v.aliases.map((a) => (
                    <span class="tag" key={a}>
                      @{a}
                    </span>
                  ))}
                </td>
                <td>
                  {Object.entries(v.lineage.metrics).map(([k, x]) => (
                    <div key={k}>
                      {k}: {fmt.num(x, 5)}
                    </div>
                  ))}
                </td>
                <td>
                  {Object.entries(v.tags).map(([k, x]) => (
                    <span class="tag" key={k}>
                      {k}={x}
                    </span>
                  ))}
                </td>
                <td class="lineage">
                  {v.lineage.job_id ? <a href={href('jobs', v.lineage.job_id)}>job {v.lineage.job_id.slice(-8)}</a> : <span class="muted">no job</span>}
                  {' → '}
                  <strong>v{v.version}</strong>
                  {' → '}
                  {(serving.get(v.version) ?? []).map((d) => (
                    <a key={d} href={href('deployments', d)} class="tag">
                      {d}
                    </a>
                  ))}
                  {!serving.has(v.version) && <span class="muted">not served</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      {move && (
        <Confirm title="Move alias" confirmLabel={`Move @${move.alias} to v${move.version}`} onConfirm={doMove} onCancel={() => setMove(null)}>
          <p>
            Point <strong>{name}@{move.alias}</strong> at version <strong>{move.version}</strong>
            {m.aliases.find((a) => a.alias === move.alias) && <> (now v{m.aliases.find((a) => a.alias === move.alias)!.version})</>}? Deployments that serve{' '}
            {name}@{move.alias} swap to it.
          </p>
        </Confirm>
      )}
    </>
  );
}
