// Console routes: paths under /ui/ (deep links work: the server answers every
// /ui/ path with the app).

export type Route =
  | { page: 'overview' }
  | { page: 'jobs' }
  | { page: 'job'; id: string }
  | { page: 'tuning' }
  | { page: 'tuning-job'; name: string }
  | { page: 'models' }
  | { page: 'model'; name: string }
  | { page: 'deployments' }
  | { page: 'deployment'; name: string }
  | { page: 'events' }
  | { page: 'notebooks' }
  | { page: 'not-found'; path: string };

export const BASE = '/ui/';

export function parseRoute(pathname: string): Route {
  const rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname.replace(/^\/+/, '');
  const parts = rest.split('/').filter(Boolean).map(decodeURIComponent);
  const [section, arg] = parts;
  if (parts.length > 2) return { page: 'not-found', path: pathname };
  switch (section) {
    case undefined:
      return { page: 'overview' };
    case 'jobs':
      return arg ? { page: 'job', id: arg } : { page: 'jobs' };
    case 'tuning':
      return arg ? { page: 'tuning-job', name: arg } : { page: 'tuning' };
    case 'models':
      return arg ? { page: 'model', name: arg } : { page: 'models' };
    case 'deployments':
      return arg ? { page: 'deployment', name: arg } : { page: 'deployments' };
    case 'events':
      return arg ? { page: 'not-found', path: pathname } : { page: 'events' };
    case 'notebooks':
      return arg ? { page: 'not-found', path: pathname } : { page: 'notebooks' };
    default:
      return { page: 'not-found', path: pathname };
  }
}

export function href(...parts: string[]): string {
  return BASE + parts.map(encodeURIComponent).join('/');
}
