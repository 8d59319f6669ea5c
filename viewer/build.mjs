// Builds the viewer into the Python package (src/aioh5saver/tools/view/static) and writes
// BUILD-STAMP.json there: a sha256 over the sources and the lock file, which the test
// tests/tools/test_view_build.py recomputes to prove that the shipped build is of these sources.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
// VIEWER_OUT_DIR builds elsewhere: the test that rebuilds and compares uses it.
const outDir = process.env.VIEWER_OUT_DIR ?? join(here, '..', 'src', 'aioh5saver', 'tools', 'view', 'static');

// The files the build depends on; tests/tools/test_view_build.py lists the same ones.
const SOURCE_FILES = ['build.mjs', 'index.html', 'package-lock.json', 'package.json', 'tsconfig.json', 'vite.config.ts'];
const SOURCE_DIRS = ['src'];

function filesUnder(folder) {
  return readdirSync(folder)
    .flatMap((name) => {
      const path = join(folder, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

// One line per file, "path sha256", paths relative with '/' and sorted: the digest of the
// whole is the stamp.
function digestOf(root, paths) {
  const lines = paths
    .map((path) => relative(root, path).split(sep).join('/'))
    .sort()
    .map((name) => `${name} ${sha256(readFileSync(join(root, name)))}\n`);
  return { digest: sha256(lines.join('')), files: lines.length };
}

const sources = [
  ...SOURCE_FILES.map((name) => join(here, name)),
  ...SOURCE_DIRS.flatMap((name) => filesUnder(join(here, name))),
];

await build({ root: here, logLevel: 'warn', build: { outDir, emptyOutDir: true } });

const built = filesUnder(outDir).filter((path) => !path.endsWith('BUILD-STAMP.json'));
const stamp = {
  about: 'Written by viewer/build.mjs: the sha256 of the viewer sources this build was made from.',
  sources_sha256: digestOf(here, sources).digest,
  sources: sources.length,
  built_sha256: digestOf(outDir, built).digest,
  built: built.length,
};
writeFileSync(join(outDir, 'BUILD-STAMP.json'), `${JSON.stringify(stamp, null, 2)}\n`);
console.log(`built ${built.length} files into ${relative(join(here, '..'), outDir)}`);
