// Bundles the console: `node build.mjs OUTDIR` writes OUTDIR/index.html,
// content-hashed OUTDIR/assets/main-HASH.{js,css} (cacheable forever) and
// OUTDIR/manifest.txt listing those files, which the build embeds into the
// control plane (src/api/ui_embed.cmake). With DEPFILE (`node build.mjs
// OUTDIR DEPFILE`) it also writes the sources it read, for the build system.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
const depfile = process.argv[3];
if (!out) {
  console.error('usage: node build.mjs OUTDIR');
  process.exit(2);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, 'src/main.tsx')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((f) => relative(out, f));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error('esbuild produced no JS or CSS: ' + outputs.join(', '));
const html = readFileSync(join(here, 'src/index.html'), 'utf8').replace('%JS%', js).replace('%CSS%', css);
writeFileSync(join(out, 'index.html'), html);
writeFileSync(join(out, 'manifest.txt'), ['index.html', css, js].join('\n') + '\n');
if (depfile) {
  const inputs = [...Object.keys(result.metafile.inputs).map((f) => resolve(f)), join(here, 'src/index.html'), fileURLToPath(import.meta.url)];
  const esc = (f) => f.replace(/ /g, '\\ ');
  writeFileSync(depfile, `${esc(join(out, 'manifest.txt'))}: ${inputs.map(esc).join(' ')}\n`);
}
