// The console's unit tests: type-checks the app (tsc --noEmit), bundles each
// test/*.test.ts for node with esbuild and runs them with `node --test`.
// Usage: node run-tests.mjs OUTDIR
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '.test-out');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: here });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
run(process.execPath, [tsc, '--noEmit', '-p', join(here, 'tsconfig.json')]);
run(process.execPath, [tsc, '--noEmit', '-p', join(here, 'test/tsconfig.json')]);

rmSync(out, { recursive: true, force: true });
const tests = readdirSync(join(here, 'test')).filter((f) => f.endsWith('.test.ts'));
await esbuild.build({
  entryPoints: tests.map((f) => join(here, 'test', f)),
  bundle: true,
  platform: 'node',
  format: 'esm',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  outExtension: { '.js': '.mjs' },
  loader: { '.css': 'empty' },
  logLevel: 'warning',
});
run(process.execPath, ['--test', ...tests.map((f) => join(out, f.replace(/\.ts$/, '.mjs')))]);
