// Small shared pieces: data loading hooks, the live event subscription, state
// badges, key/value lists and a keyboard-usable confirmation dialog.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, getJson, pageLeaving, q, streamNdjson } from '../api';
import type { BusEvent } from '../types';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

// GETs `path` now and whenever `reload` is called (or the path changes).
export function useApi<T>(path: string | null): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  // Requests are aborted only when the path changes or the page goes away; a
  // reload does not abort the one in flight (the browser reports that as a
  // failed request), its answer is just ignored if a later one was sent.
  const controller = useRef<AbortController | undefined>(undefined);
  const latest = useRef(0);
  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    controller.current = ctl;
    return () => ctl.abort();
  }, [path]);
  useEffect(() => {
    const ctl = controller.current;
    if (path === null || !ctl) return;
    const n = ++latest.current;
    getJson<T>(path, ctl.signal)
      .then((d) => {
        if (n !== latest.current) return;
        setData(d);
        setError(undefined);
      })
      .catch((e: unknown) => {
        if (!ctl.signal.aborted && n === latest.current) setError(describe(e));
      });
  }, [path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}

export function describe(e: unknown): string {
  if (e instanceof ApiError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

// Subscribes to the bus' live stream (GET /api/v1/events/stream, NDJSON),
// filtered server-side by an EventBridge `pattern`; reconnects after errors
// from the last sequence number seen.
// `onLive` says whether the stream is connected: events published once it is
// true are delivered (the server fixes the stream's start when it answers).
export function useEvents(
  pattern: object | null,
  onEvent: (e: BusEvent) => void,
  onLive?: (live: boolean) => void,
): string | undefined {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const liveHandler = useRef(onLive);
  liveHandler.current = onLive;
  const [error, setError] = useState<string>();
  const key = pattern === null ? null : JSON.stringify(pattern);
  useEffect(() => {
    if (key === null) return;
    const ctl = new AbortController();
    let after: number | undefined;
    const run = async () => {
      while (!ctl.signal.aborted && !pageLeaving.aborted) {
        try {
          await streamNdjson<BusEvent>(
            '/events/stream' + q({ pattern: key, after }),
            (e) => {
              after = e.seq;
              handler.current(e);
            },
            ctl.signal,
            () => liveHandler.current?.(true),
          );
          liveHandler.current?.(false);
          setError(undefined);
        } catch (e) {
          liveHandler.current?.(false);
          setError(describe(e));
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    };
    liveHandler.current?.(false);
    void run();
    return () => ctl.abort();
  }, [key]);
  return error;
}

// For a page showing data it loaded with GETs: refreshes on every matching
// event and once more when the stream connects. The stream starts at the
// newest event when it connects, so a change published between the page's
// first GET and that moment is in neither; the refresh on connect covers it.
export function useRefreshOnEvents(pattern: object | null, refresh: () => void): string | undefined {
  return useEvents(pattern, () => refresh(), (live) => {
    if (live) refresh();
  });
}

// Calls `fn` at most once per `ms` (trailing call kept).
export function useThrottled(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<number | null>(null);
  useEffect(() => () => {
    if (timer.current !== null) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

// For data derived from an event by another component after the event was
// published (the fleet learns a replica's version by probing it, the job
// service parses metrics from the log): refreshes now (throttled) and once
// more `settleMs` after the last trigger.
export function useSettledRefresh(fn: () => void, settleMs: number): () => void {
  const now = useThrottled(fn, 200);
  const timer = useRef<number | null>(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => {
    if (timer.current !== null) clearTimeout(timer.current);
  }, []);
  return useCallback(() => {
    now();
    if (timer.current !== null) clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      timer.current = null;
      latest.current();
    }, settleMs);
  }, [now, settleMs]);
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span class={'badge state-' + state.toLowerCase()} data-state={state}>
      {state}
    </span>
  );
}

export function ErrorBox({ error }: { error?: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function KeyValues({ entries, testId }: { entries: [string, ComponentChildren][]; testId?: string }) {
  if (entries.length === 0) return <p class="muted">none</p>;
  return (
    <dl class="kv" data-testid={testId}>
      {entries.map(([k, v]) => (
        <>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </>
      ))}
    </dl>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      <header>
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

// A modal confirmation: focus starts on Cancel, Escape cancels, Enter on the
// confirm button confirms.
export function Confirm(props: { title: string; children: ComponentChildren; confirmLabel: string; onConfirm: () => void; onCancel: () => void }) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div class="modal-backdrop" onKeyDown={(e) => e.key === 'Escape' && props.onCancel()}>
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
        <h2 id="confirm-title">{props.title}</h2>
        <div>{props.children}</div>
        <div class="actions">
          <button ref={cancel} onClick={props.onCancel}>
            Cancel
          </button>
          <button class="primary" data-testid="confirm" onClick={props.onConfirm}>
            {props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

export const fmt = {
  num: (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '—' : Number(v.toPrecision(digits)).toString()),
  money: (v: number | undefined) => (v === undefined ? '—' : v !== 0 && Math.abs(v) < 0.01 ? '$' + v.toPrecision(2) : '$' + v.toFixed(2)),
  secs: (v: number | undefined) => (v === undefined ? '—' : v < 60 ? v.toFixed(1) + ' s' : (v / 60).toFixed(1) + ' min'),
  time: (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : '—'),
  ms: (epochMs: number) => new Date(epochMs).toLocaleString(),
};
