/**
 * Static checks of the Dockerfile and .dockerignore (there is no Docker engine
 * and no hadolint package on these machines). The HEALTHCHECK command is also
 * run for real, with node, against a stub HTTP server.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { isIgnored, keyValues, parseDockerfile, parseDockerignore, type Dockerfile, type Stage } from './dockerfile';

const ROOT = path.resolve(__dirname, '..', '..');
const dockerfile: Dockerfile = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const ignoreRules = parseDockerignore(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));

function finalStage(): Stage {
  const s = dockerfile.stages[dockerfile.stages.length - 1];
  assert.ok(s, 'no FROM in the Dockerfile');
  return s;
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

function copies(stage: Stage): { from: string | undefined; sources: string[]; dest: string }[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const parts = i.exec ?? i.args.split(/\s+/);
      return { from: i.flags.from, sources: parts.slice(0, -1), dest: parts[parts.length - 1] ?? '' };
    });
}

describe('deploy: Dockerfile', () => {
  it('is multi-stage: a named build stage runs `npm ci` with dev deps and `npm run build`', () => {
    assert.ok(dockerfile.stages.length >= 2, 'expected at least two FROM stages');
    const build = dockerfile.stages.find((s) => s.name === 'build');
    assert.ok(build, 'expected a stage `AS build`');
    const r = runs(build).join('\n');
    assert.match(r, /\bnpm ci\b/);
    assert.doesNotMatch(r, /--omit[= ]dev|--production/, 'the build stage needs dev dependencies (tsc)');
    assert.match(r, /\bnpm run build\b/);
  });

  it('pins every base image by a full version tag (or digest) on node 20 slim, never latest', () => {
    const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter((n): n is string => n !== undefined));
    for (const s of dockerfile.stages) {
      if (stageNames.has(s.image)) continue;
      assert.match(s.image, /^[\w./-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$/, `odd image reference ${s.image}`);
      assert.match(s.image, /:\d+\.\d+\.\d+[\w.-]*(@|$)|@sha256:/, `${s.image} is not pinned to a full version`);
      assert.doesNotMatch(s.image, /:latest\b/);
      assert.match(s.image, /^node:20\.[\w.-]*slim/, `${s.image}: expected node 20 slim`);
    }
  });

  it('runtime stage takes production deps only, built elsewhere, and copies dist/, lua/ and the package files', () => {
    const rt = finalStage();
    const r = runs(rt).join('\n');
    // The native module (better-sqlite3) is compiled in the build stage; the runtime stage installs nothing.
    assert.doesNotMatch(r, /\bnpm (ci|run build|install\b|i\b|rebuild)|node-gyp/);
    const deps = copies(rt).find((x) => x.sources.some((src) => /^\/app\/node_modules\/?$/.test(src)));
    assert.ok(deps?.from, 'node_modules copied from an earlier stage');
    const depsStage = dockerfile.stages.find((s) => s.name === deps.from);
    assert.ok(depsStage, `no stage named ${deps.from}`);
    assert.match(runs(depsStage).join('\n'), /\bnpm (prune|ci)\b[^\n]*--omit=dev/, `${deps.from}: production dependencies only`);
    const c = copies(rt);
    const fromBuild = c.filter((x) => x.from === 'build');
    assert.ok(fromBuild.some((x) => x.sources.some((src) => /^\/app\/dist\/?$/.test(src))), 'dist/ copied from build');
    const local = c.filter((x) => x.from === undefined).flatMap((x) => x.sources);
    for (const want of ['lua', 'package.json', 'package-lock.json']) {
      assert.ok(local.some((src) => src.replace(/\/$/, '') === want), `runtime stage must COPY ${want}`);
    }
    assert.ok(!local.some((src) => /^(src|test|k8s|sessions|\.)\/?$/.test(src)), 'runtime copies no sources/tests/context root');
  });

  it('has the compilers for the native module in the build stage only, never in the runtime stage', () => {
    const build = dockerfile.stages.find((s) => s.name === 'build');
    assert.ok(build);
    const compilers = /\b(g\+\+|gcc|make|build-essential|python3)\b/;
    assert.match(runs(build).join('\n'), compilers, 'better-sqlite3 may have to be compiled: the build stage needs python3, make, g++');
    const rt = finalStage();
    assert.ok(!dockerfile.stages.some((s) => s.name !== undefined && s.name === rt.image), 'the runtime stage starts from the base image, not from a stage with compilers');
    assert.doesNotMatch(runs(rt).join('\n'), /apt-get|apk |\bg\+\+|\bgcc\b|build-essential/);
  });

  it('sets NODE_ENV=production and EXPOSE 8000 in the runtime stage', () => {
    const rt = finalStage();
    const env = rt.instructions.filter((i) => i.keyword === 'ENV').flatMap(keyValues);
    assert.ok(env.some(([k, v]) => k === 'NODE_ENV' && v === 'production'));
    const exposed = rt.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
    assert.ok(exposed.includes('8000') || exposed.includes('8000/tcp'));
  });

  it('runs as a non-root numeric user, with the code not owned by that user', () => {
    const rt = finalStage();
    const users = rt.instructions.filter((i) => i.keyword === 'USER');
    const last = users[users.length - 1];
    assert.ok(last, 'runtime stage must set USER');
    const m = /^(\d+)(?::(\d+))?$/.exec(last.args);
    assert.ok(m, `USER ${last.args} must be numeric (uid[:gid]) so runAsNonRoot can check it`);
    assert.notEqual(Number(m[1]), 0, 'USER must not be root');
    // A read-only root filesystem is the norm, but also: the process must not be
    // able to rewrite its own code.
    for (const i of rt.instructions) {
      assert.ok(!(i.keyword === 'COPY' && i.flags.chown !== undefined && !/^0(:0)?$/.test(i.flags.chown)), `line ${i.line}: COPY --chown`);
      assert.ok(!(i.keyword === 'RUN' && /\bchown\b|\bchmod\b/.test(i.args)), `line ${i.line}: chown/chmod in the runtime stage`);
    }
  });

  it('CMD is exec form `node dist/main.js` (SIGTERM reaches node); no shell-form ENTRYPOINT', () => {
    const rt = finalStage();
    const cmd = rt.instructions.filter((i) => i.keyword === 'CMD');
    assert.deepEqual(cmd[cmd.length - 1]?.exec, ['node', 'dist/main.js']);
    for (const e of rt.instructions.filter((i) => i.keyword === 'ENTRYPOINT')) {
      assert.ok(e.exec, `line ${e.line}: shell-form ENTRYPOINT would swallow SIGTERM`);
    }
  });

  it('never ADDs a URL and bakes no secret into ENV/ARG', () => {
    const all = dockerfile.stages.flatMap((s) => s.instructions);
    for (const i of all.filter((x) => x.keyword === 'ADD')) {
      assert.doesNotMatch(i.args, /https?:\/\/|git@/, `line ${i.line}: ADD of a remote source`);
    }
    const pairs = [
      ...Object.entries(dockerfile.globalArgs),
      ...all.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG').flatMap(keyValues),
    ];
    for (const [k, v] of pairs) {
      if (/KEY|SECRET|TOKEN|PASSW|CREDENTIAL|REDIS_URL/i.test(k)) assert.equal(v, '', `${k} must not have a value in the image`);
    }
  });

  describe('HEALTHCHECK', () => {
    function healthcheck(): string[] {
      const hc = finalStage().instructions.filter((i) => i.keyword === 'HEALTHCHECK');
      const last = hc[hc.length - 1];
      assert.ok(last, 'runtime stage must have a HEALTHCHECK');
      const m = /^CMD\s+(.*)$/s.exec(last.args);
      assert.ok(m, 'HEALTHCHECK CMD …');
      const exec: unknown = JSON.parse(m[1] ?? '');
      assert.ok(Array.isArray(exec) && exec.every((x): x is string => typeof x === 'string'), 'HEALTHCHECK CMD in exec form');
      return exec;
    }

    it('uses node itself (no curl/wget in slim images) on 127.0.0.1, $PORT (default 8000), /healthz', () => {
      const argv = healthcheck();
      assert.equal(argv[0], 'node');
      const text = argv.join(' ');
      assert.doesNotMatch(text, /\bcurl\b|\bwget\b/);
      assert.match(text, /127\.0\.0\.1/);
      assert.match(text, /process\.env\.PORT\s*\|\|\s*8000/);
      assert.match(text, /\/healthz\b/);
    });

    async function runAgainst(status: number | undefined): Promise<number | null> {
      const argv = healthcheck();
      let port: number;
      let server: http.Server | undefined;
      if (status === undefined) {
        port = 1; // nothing listens there
      } else {
        const seen: string[] = [];
        server = http.createServer((req, res) => {
          seen.push(req.url ?? '');
          res.writeHead(req.url === '/healthz' ? status : 404).end('{}');
        });
        await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
        port = (server.address() as AddressInfo).port;
      }
      try {
        // Asynchronous spawn: spawnSync would block the stub server in this process.
        return await runNode(argv, { ...process.env, PORT: String(port) });
      } finally {
        await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      }
    }

    it('exits 0 on 200, non-zero on 503 or when nothing listens', async () => {
      assert.equal(await runAgainst(200), 0);
      assert.notEqual(await runAgainst(503), 0);
      assert.notEqual(await runAgainst(undefined), 0);
    });
  });
});

/** Runs `node …` (argv[0] must be node) with this process's node binary; resolves the exit code. */
function runNode(argv: string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const [cmd, ...args] = argv;
  assert.equal(cmd, 'node');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: 'ignore', timeout: 10_000 });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

describe('deploy: .dockerignore', () => {
  const excluded = [
    'node_modules/express/index.js',
    'dist/main.js',
    '.git/HEAD',
    'test/deploy/k8s.test.ts',
    'sessions/acc1.session',
    'src/pool/stray.session',
    'lua/x.session-journal',
    '.env',
    'src/.env.local',
    'bench/results/run1.json',
    'k8s/base/api-keys.txt',
    'api-keys.txt',
    'coverage/lcov.info',
    'clients/python/setup.py',
  ];
  const included = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/main.ts', 'lua/acquireSession-7.lua'];

  for (const f of excluded) {
    it(`keeps ${f} out of the build context`, () => assert.equal(isIgnored(ignoreRules, f), true));
  }
  for (const f of included) {
    it(`sends ${f}`, () => assert.equal(isIgnored(ignoreRules, f), false));
  }

  it('sends every local source the Dockerfile COPYs, and each exists', () => {
    const sources = dockerfile.stages.flatMap((s) => copies(s).filter((c) => c.from === undefined).flatMap((c) => c.sources));
    assert.ok(sources.length > 0);
    for (const src of sources) {
      const rel = src.replace(/\/$/, '');
      assert.equal(isIgnored(ignoreRules, rel), false, `${rel} is copied but .dockerignore drops it`);
      assert.ok(existsSync(path.join(ROOT, rel)), `${rel} is copied but does not exist`);
    }
  });
});
