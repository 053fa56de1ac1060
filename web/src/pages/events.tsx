// Events: the bus' live stream, filtered by an EventBridge pattern (matched
// by the server: GET /events/stream?pattern=...).
import { useState } from 'preact/hooks';
import { ErrorBox, fmt, useEvents } from '../components/ui';
import type { BusEvent } from '../types';

const EXAMPLE = '{"source": [{"prefix": "tandem."}]}';
const KEEP = 500;

// Parses the pattern box: an empty box means every event.
export function parsePattern(text: string): { pattern?: object; error?: string } {
  if (!text.trim()) return { pattern: {} };
  try {
    const p: unknown = JSON.parse(text);
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return { error: 'a pattern is a JSON object' };
    return { pattern: p };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export function Events() {
  const [text, setText] = useState(new URLSearchParams(location.search).get('pattern') ?? EXAMPLE);
  const [applied, setApplied] = useState<object>(parsePattern(text).pattern ?? {});
  const [events, setEvents] = useState<BusEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const parsed = parsePattern(text);
  const [live, setLive] = useState(false);
  const streamError = useEvents(
    paused ? null : applied,
    (e) => setEvents((list) => [e, ...list].slice(0, KEEP)),
    setLive,
  );
  const apply = (e: Event) => {
    e.preventDefault();
    if (parsed.pattern) {
      // A new pattern opens a new stream: not live until the server answers.
      if (JSON.stringify(parsed.pattern) !== JSON.stringify(applied)) setLive(false);
      setApplied(parsed.pattern);
      setEvents([]);
      history.replaceState(null, '', '?pattern=' + encodeURIComponent(text));
    }
  };
  return (
    <>
      <h1>Events</h1>
      <form class="pattern" onSubmit={apply}>
        <label for="pattern">EventBridge pattern</label>
        <textarea id="pattern" rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} data-testid="pattern" spellcheck={false} />
        <div class="actions">
          <button type="submit" class="primary" disabled={!parsed.pattern} data-testid="apply-pattern">
            Apply filter
          </button>
          <button type="button" onClick={() => setPaused(!paused)}>
            {paused ? 'Resume' : 'Pause'}
          </button>
          <span class="muted" data-testid="stream-state" data-state={paused ? 'paused' : live ? 'live' : 'connecting'}>
            {paused ? 'paused' : live ? 'live' : 'connecting…'} · {events.length} events since the filter was applied
          </span>
        </div>
        {parsed.error && <p class="error">{parsed.error}</p>}
      </form>
      <ErrorBox error={streamError} />
      <table class="list" data-testid="events-table">
        <thead>
          <tr>
            <th class="num">Seq</th>
            <th>Time</th>
            <th>Source</th>
            <th>Detail type</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq}>
              <td class="num">{e.seq}</td>
              <td>{fmt.time(e.time)}</td>
              <td>{e.source}</td>
              <td>{e['detail-type']}</td>
              <td>
                <code class="detail">{JSON.stringify(e.detail)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
