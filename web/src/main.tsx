// The console: a single-page app served by the control plane at /ui/.
// Navigation uses the history API; links are ordinary <a href> elements, so
// the keyboard, middle-click and deep links all work.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { DeploymentPage, DeploymentsList } from './pages/deployments';
import { Events } from './pages/events';
import { JobPage, JobsList } from './pages/jobs';
import { ModelPage, ModelsList } from './pages/models';
import { Notebooks } from './pages/notebooks';
import { Overview } from './pages/overview';
import { TuningList, TuningPage } from './pages/tuning';
import { BASE, href, parseRoute, type Route } from './lib/route';
import { login, token, watchAuth } from './api';

// Asks for an API token (`tandem auth tokens create`, or the admin token
// `tandem up` wrote) and keeps it for this tab only.
function Login({ done }: { done: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await login(value.trim());
      done();
    } catch {
      setError('That token was refused: check it has not expired or been revoked.');
    }
  };
  return (
    <main id="main" class="login">
      <h1>Log in to tandem</h1>
      <form onSubmit={submit}>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
        />
        <button type="submit">Log in</button>
        {error && <p role="alert">{error}</p>}
      </form>
      <p>
        Create one with <code>tandem auth tokens create</code>; a new control plane's admin token is in{' '}
        <code>&lt;home&gt;/admin-token</code>.
      </p>
    </main>
  );
}

const NAV: [string, string, Route['page'][]][] = [
  ['Overview', href(), ['overview']],
  ['Jobs', href('jobs'), ['jobs', 'job']],
  ['Tuning', href('tuning'), ['tuning', 'tuning-job']],
  ['Models', href('models'), ['models', 'model']],
  ['Deployments', href('deployments'), ['deployments', 'deployment']],
  ['Events', href('events'), ['events']],
  ['Notebooks', href('notebooks'), ['notebooks']],
];

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <Overview />;
    case 'jobs':
      return <JobsList />;
    case 'job':
      return <JobPage key={route.id} id={route.id} />;
    case 'tuning':
      return <TuningList />;
    case 'tuning-job':
      return <TuningPage key={route.name} name={route.name} />;
    case 'models':
      return <ModelsList />;
    case 'model':
      return <ModelPage key={route.name} name={route.name} />;
    case 'deployments':
      return <DeploymentsList />;
    case 'deployment':
      return <DeploymentPage key={route.name} name={route.name} />;
    case 'events':
      return <Events />;
    case 'notebooks':
      return <Notebooks />;
    case 'not-found':
      return (
        <>
          <h1>Not found</h1>
          <p>
            Nothing at <code>{route.path}</code>. <a href={BASE}>Back to the overview</a>.
          </p>
        </>
      );
  }
}

function App() {
  const [loggedIn, setLoggedIn] = useState(() => token() !== '');
  useEffect(() => watchAuth(setLoggedIn), []);
  return loggedIn ? <Console /> : <Login done={() => setLoggedIn(true)} />;
}

function Console() {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const onPop = () => setRoute(parseRoute(location.pathname));
    // In-app links: plain left clicks on /ui/ links change the route without
    // a reload; anything else (new tab, other paths) is left to the browser.
    const onClick = (e: MouseEvent) => {
      if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      const a = (e.target as Element).closest('a');
      if (!a || a.target || !a.href) return;
      const url = new URL(a.href);
      if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
      e.preventDefault();
      history.pushState(null, '', url.pathname + url.search);
      onPop();
      window.scrollTo(0, 0);
      document.getElementById('main')?.focus();
    };
    window.addEventListener('popstate', onPop);
    document.addEventListener('click', onClick);
    return () => {
      window.removeEventListener('popstate', onPop);
      document.removeEventListener('click', onClick);
    };
  }, []);
  useEffect(() => {
    const nav = NAV.find(([, , pages]) => pages.includes(route.page));
    document.title = (nav ? nav[0] + ' · ' : '') + 'tandem';
  }, [route]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href()}>
          tandem
        </a>
        <nav aria-label="sections">
          {NAV.map(([label, to, pages]) => (
            <a key={label} href={to} aria-current={pages.includes(route.page) ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

// Streams stop when the page is hidden (api.ts); a page restored from the
// back/forward cache reloads to start them again.
window.addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload();
});

render(<App />, document.getElementById('app')!);
