// The console's only door to the control plane: the documented REST API under
// /api/v1. Every request goes through `request` so that authentication (the
// API token the login form stored in sessionStorage, sent as a bearer token)
// is added in exactly one place: `authHeaders` below.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'tandem.token';

// The token of this tab ("" before login). sessionStorage: gone with the tab.
export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

// Called with false when the server refuses the token (401): the app shows
// the login form again.
let onAuthChange: (loggedIn: boolean) => void = () => {};
export function watchAuth(f: (loggedIn: boolean) => void): void {
  onAuthChange = f;
}

// Checks `candidate` (GET /auth/whoami) and keeps it for this tab.
export async function login(candidate: string): Promise<void> {
  const res = await fetch('/api/v1/auth/whoami', { headers: { authorization: 'Bearer ' + candidate } });
  if (!res.ok) throw new ApiError(res.status, String(res.status), 'that token was refused');
  sessionStorage.setItem(TOKEN_KEY, candidate);
  onAuthChange(true);
}

// The single place where credentials are attached to requests.
function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { authorization: 'Bearer ' + t } : {};
}

async function request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { ...authHeaders() };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch('/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    onAuthChange(false);
  }
  if (!res.ok) {
    let code = String(res.status);
    let message = res.statusText;
    try {
      const err = (await res.json()) as { error?: { code?: string; message?: string } };
      code = err.error?.code ?? code;
      message = err.error?.message ?? message;
    } catch {
      // not a JSON error body; keep the status text
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await request('GET', path, undefined, signal)).json()) as T;
}

export async function sendJson<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  return (await (await request(method, path, body ?? {})).json()) as T;
}

// Aborted once the page is being left (beforeunload, then pagehide). Streams
// end then and must not reconnect: a page kept in the back/forward cache is
// frozen, and a stream still open would hold one of the six connections a
// browser allows per server over HTTP/1.1 for as long as the page is cached.
const leaving = new AbortController();
if (typeof window !== 'undefined') {
  window.addEventListener('beforeunload', () => leaving.abort());
  window.addEventListener('pagehide', () => leaving.abort());
}
export const pageLeaving: AbortSignal = leaving.signal;

// Reads a streamed response body chunk by chunk (text), until it ends,
// `signal` aborts or the page is left. Resolves when the stream ends;
// aborting resolves quietly.
// `onOpen` runs once the server has answered (its headers arrived): from then
// on, the stream sees everything the server produces.
export async function streamText(
  path: string,
  onChunk: (text: string) => void,
  signal: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  const both = AbortSignal.any([signal, pageLeaving]);
  if (both.aborted) return;
  try {
    const res = await request('GET', path, undefined, both);
    onOpen?.();
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (value) onChunk(value);
    }
  } catch (e) {
    if (both.aborted) return;
    throw e;
  }
}

// A newline-delimited JSON stream (events, deployment metrics): calls
// `onItem` for every complete line.
export async function streamNdjson<T>(
  path: string,
  onItem: (item: T) => void,
  signal: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  let pending = '';
  await streamText(
    path,
    (text) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) onItem(JSON.parse(line) as T);
      }
    },
    signal,
    onOpen,
  );
}

export const q = (params: Record<string, string | number | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') s.set(k, String(v));
  const text = s.toString();
  return text ? '?' + text : '';
};

export const enc = encodeURIComponent;
