// Starts s3rver (test tooling for tandem's S3 ObjectStore backend) on
// 127.0.0.1 with an OS-chosen free port, creates the bucket, and writes the
// port to PORT_FILE once it is listening. Usage:
//   node run-s3rver.js DATA_DIR BUCKET PORT_FILE
// Virtual-host requests are accepted for <bucket>.s3.localhost:<port>.
'use strict';
const fs = require('fs');
const path = require('path');
const S3rver = require('s3rver');

const [dataDir, bucket, portFile] = process.argv.slice(2);
if (!dataDir || !bucket || !portFile) {
  console.error('usage: node run-s3rver.js DATA_DIR BUCKET PORT_FILE');
  process.exit(2);
}
fs.mkdirSync(dataDir, { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dataDir,
  silent: true,
  serviceEndpoint: 'localhost',
  configureBuckets: [{ name: bucket }],
});
server.run().then(
  ({ port }) => {
    const tmp = portFile + '.tmp';
    fs.writeFileSync(tmp, String(port) + '\n');
    fs.renameSync(tmp, portFile);
  },
  err => {
    console.error('s3rver failed to start: ' + err.message);
    process.exit(1);
  },
);
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close().then(() => process.exit(0)));
}
