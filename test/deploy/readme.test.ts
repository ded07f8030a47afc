/**
 * The README's quick start works on a fresh clone as written (issue 10 item
 * 16): it links only what a clone has, says to keep the service running
 * before the curl lines, updates apt before installing, and `npm start` runs
 * the build instead of compiling on every start — the same command the
 * Dockerfile runs, built the same way .ci/run and the Dockerfile build.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');

describe('README quick start and npm scripts', () => {
  const readme = read('README.md');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };

  it('links and names only files a clone has', () => {
    assert.doesNotMatch(readme, /\.\.\/shared|\]\(\.\.\//, 'no path outside the repository');
    for (const m of readme.matchAll(/\]\(([^)#]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(existsSync(path.join(ROOT, target)), `README links ${target}, which a clone does not have`);
    }
  });

  it('the quick start: build, run and keep it running, then the curl lines; apt-get update before install', () => {
    const quick = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Configuration'));
    const run = quick.indexOf('npm start');
    const keep = quick.indexOf('keep it running');
    const curl = quick.indexOf('curl ');
    assert.ok(run > 0 && keep > 0 && curl > 0, 'run command, "keep it running" and curl lines are there');
    assert.ok(run < curl && keep < curl, '"keep it running" comes with the run command, before the curl lines');
    assert.ok(quick.indexOf('npm run build') < run, 'the build step is named before npm start');
    assert.doesNotMatch(quick.slice(run, curl), /npm test/, 'nothing between running it and using it');
    for (const text of [readme, read('.ci/run')]) {
      for (const m of text.matchAll(/apt-get install/g)) {
        assert.match(text.slice(Math.max(0, m.index - 200), m.index), /apt-get update/, 'apt-get update before apt-get install');
      }
    }
  });

  it('npm start runs dist/main.js without compiling, like the Dockerfile; the build is npm run build there and in npm test', () => {
    assert.equal(pkg.scripts.start, 'node dist/main.js');
    assert.doesNotMatch(pkg.scripts.start, /tsc|build/);
    assert.match(read('Dockerfile'), /CMD \["node", "dist\/main\.js"\]/);
    assert.match(read('Dockerfile'), /RUN npm run build/);
    assert.match(pkg.scripts.test!, /npm run build/);
    assert.match(read('.ci/run'), /npm test/);
  });

  it('npm start without a build says what to run, in one line', () => {
    // A clone before its build: package.json and nothing else.
    const clone = mkdtempSync(path.join(os.tmpdir(), 'telegate-clone-'));
    copyFileSync(path.join(ROOT, 'package.json'), path.join(clone, 'package.json'));
    const r = spawnSync('npm', ['start', '--silent'], { cwd: clone, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: clone } });
    rmSync(clone, { recursive: true, force: true });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^telegate: dist\/main\.js is missing: run npm run build first$/m);
  });
});
