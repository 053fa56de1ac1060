import assert from 'node:assert/strict';
import { test } from 'node:test';
import { href, parseRoute } from '../src/lib/route';
import { parsePattern } from '../src/pages/events';

test('parseRoute maps /ui/ paths to pages, decoding names', () => {
  assert.deepEqual(parseRoute('/ui/'), { page: 'overview' });
  assert.deepEqual(parseRoute('/ui/jobs'), { page: 'jobs' });
  assert.deepEqual(parseRoute('/ui/jobs/01ABC'), { page: 'job', id: '01ABC' });
  assert.deepEqual(parseRoute('/ui/models/my%20model'), { page: 'model', name: 'my model' });
  assert.deepEqual(parseRoute('/ui/deployments/tour/'), { page: 'deployment', name: 'tour' });
  assert.deepEqual(parseRoute('/ui/tuning/hpo'), { page: 'tuning-job', name: 'hpo' });
  assert.equal(parseRoute('/ui/nope').page, 'not-found');
  assert.equal(parseRoute('/ui/events/x').page, 'not-found');
  assert.equal(parseRoute('/ui/jobs/a/b').page, 'not-found');
});

test('href builds encoded links that parseRoute reads back', () => {
  assert.equal(href(), '/ui/');
  assert.equal(href('models', 'a/b'), '/ui/models/a%2Fb');
  assert.deepEqual(parseRoute(href('models', 'a/b')), { page: 'model', name: 'a/b' });
});

test('parsePattern accepts a JSON object and explains anything else', () => {
  assert.deepEqual(parsePattern(''), { pattern: {} });
  assert.deepEqual(parsePattern('{"source": ["tandem.compute"]}'), { pattern: { source: ['tandem.compute'] } });
  assert.equal(parsePattern('[1]').error, 'a pattern is a JSON object');
  assert.ok(parsePattern('{"source":').error);
});
