// Starts s3rver (test tooling for tandem's S3 ObjectStore backend) on
// 127.0.0.1 with an OS-chosen free port, creates the bucket, and writes the
// port to PORT_FILE once it is listening. Usage:
//   node run-s3rver.js DATA_DIR BUCKET PORT_FILE [WORKERS]
// Virtual-host requests are accepted for <bucket>.s3.localhost:<port>.
//
// WORKERS (default 1) > 1 runs that many s3rver processes under Node's
// `cluster` module, sharing one listening socket (the primary accepts and
// hands connections round-robin to the workers) and one data directory:
// s3rver keeps all its state (objects, metadata, multipart uploads) in files
// and its listing continuation tokens are encrypted with a fixed key, so any
// worker can serve any request. The primary creates the bucket before
// forking, writes the port once every worker listens on it, stops the
// workers on SIGTERM/SIGINT, and stops them all and exits non-zero if one
// dies (a server with a missing worker is not the server asked for).
'use strict';
const cluster = require('cluster');
const fs = require('fs');
const S3rver = require('s3rver');

const [dataDir, bucket, portFile, workersArg] = process.argv.slice(2);
const workers = workersArg === undefined ? 1 : Number(workersArg);
if (!dataDir || !bucket || !portFile || !Number.isInteger(workers) || workers < 1 || workers > 64) {
  console.error('usage: node run-s3rver.js DATA_DIR BUCKET PORT_FILE [WORKERS 1-64]');
  process.exit(2);
}

function options(configureBuckets) {
  return {
    address: '127.0.0.1',
    port: 0,
    directory: dataDir,
    silent: true,
    serviceEndpoint: 'localhost',
    configureBuckets,
  };
}

function writePort(port) {
  const tmp = portFile + '.tmp';
  fs.writeFileSync(tmp, String(port) + '\n');
  fs.renameSync(tmp, portFile);
}

function fatal(message) {
  console.error('s3rver: ' + message);
  process.exit(1);
}

if (workers === 1) {
  // One process, no cluster: the server as s3rver ships it.
  fs.mkdirSync(dataDir, { recursive: true });
  const server = new S3rver(options([{ name: bucket }]));
  server.run().then(({ port }) => writePort(port), err => fatal('failed to start: ' + err.message));
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => server.close().then(() => process.exit(0)));
  }
} else if (cluster.isPrimary) {
  fs.mkdirSync(dataDir, { recursive: true });
  let stopping = false;
  const stopAll = code => {
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    const deadline = Date.now() + 10000;
    const wait = () => {
      if (Object.keys(cluster.workers).length === 0 || Date.now() > deadline) {
        for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
        process.exit(code);
      }
      setTimeout(wait, 50);
    };
    wait();
  };
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => stopAll(0));
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    console.error(`s3rver: worker ${w.process.pid} exited (code ${code}, signal ${signal}); stopping`);
    stopAll(1);
  });
  // The bucket, once, before any worker serves a request.
  new S3rver(options([{ name: bucket }])).configureBuckets().then(
    () => {
      // Every worker's listen(0) gets the same port: the primary owns the
      // one socket for that address and hands it to all of them.
      const ports = [];
      for (let i = 0; i < workers; ++i) {
        cluster.fork().on('message', msg => {
          if (!msg || typeof msg.port !== 'number') return;
          ports.push(msg.port);
          if (ports.length < workers) return;
          if (new Set(ports).size !== 1) {
            console.error('s3rver: workers listen on different ports: ' + ports.join(' '));
            stopAll(1);
            return;
          }
          writePort(ports[0]);
        });
      }
    },
    err => fatal('failed to create bucket ' + bucket + ': ' + err.message),
  );
} else {
  const server = new S3rver(options([]));
  // Which worker answered (to check that requests are spread over them):
  // first in Koa's chain, as s3rver's router ends it.
  server.middleware.unshift(async (ctx, next) => {
    ctx.set('x-s3rver-worker', String(process.pid));
    await next();
  });
  server.run().then(
    ({ port }) => process.send({ port }),
    err => fatal('worker failed to start: ' + err.message),
  );
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
  process.on('SIGINT', () => {});  // the primary stops the workers
}
