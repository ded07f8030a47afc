/**
 * Operators' bad days, with real processes (node dist/main.js) and real
 * redis-servers (issue 10 items 2, 10, 11, 12, 14, 15): a stalled Redis is a
 * 503 within one budget, a full Redis never puts a secret in the log, every
 * log line is JSON and routine answers are not errors, a taken port says so,
 * and shutdown does not wait on a dead Redis.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { until } from '../../support/poll';
import { freePort } from '../../support/ports';
import { RedisServer, testClient } from '../../support/redis';
import { MAIN, Replica } from '../../support/replica';
import { makeSessions } from '../../support/sessions';

const KEY = 'faults-test-key-0123456789';
const PROXY_PASSWORD = 'Pr0xy-pa55word-never-logged';

interface LogLine {
  level: string;
  msg: string;
  req?: { path: string; method: string };
  res?: { status: number };
  err?: unknown;
  reason?: string;
}

/** Every line of a process's stdout+stderr as JSON; fails on the first that is not. */
function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        assert.fail(`a log line is not JSON: ${l.slice(0, 300)}`);
      }
    });
}

function emptyDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'telegate-faults-'));
}

describe('faults: stalls, outages, a full Redis, a taken port (real processes)', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  let replicas: Replica[] = [];
  let dirs: string[] = [];

  const start = async (env: Record<string, string>): Promise<Replica> => {
    const r = await Replica.start({ REDIS_URL: redis.url, TELEGATE_API_KEYS: KEY, LOG_LEVEL: 'info', ...env });
    replicas.push(r);
    return r;
  };
  const dir = (): string => {
    const d = emptyDir();
    dirs.push(d);
    return d;
  };
  const call = (r: Replica, p: string, method = 'GET', body?: unknown): Promise<Response> =>
    r.fetch(p, {
      key: KEY,
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
    });

  beforeEach(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    try {
      process.kill(redis.pid, 'SIGCONT');
    } catch {
      // not running
    }
    for (const r of replicas) await r.kill('SIGKILL');
    replicas = [];
    await redis.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  it('Redis stalled (SIGSTOP): GET /session is 503 store_unavailable in one budget, not the limiter’s plus the pool’s', async () => {
    const r = await start({ TELEGATE_SESSIONS_DIR: dir() });
    process.kill(redis.pid, 'SIGSTOP');
    try {
      for (const p of ['/session', '/status']) {
        const t0 = Date.now();
        const res = await call(r, p);
        const ms = Date.now() - t0;
        assert.equal(res.status, 503, p);
        assert.deepEqual(await res.json(), { detail: { error: 'store_unavailable' } });
        // Each Redis wait is 1.5 s and cannot end early: two of them in a row (the limiter's, then the pool's) take >= 3 s.
        assert.ok(ms < 2500, `${p} answered in ${ms} ms during the stall: more than one wait`);
      }
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    await until(async () => (await call(r, '/status')).status === 200, 'service back after the stall', 10_000);
  });

  it('a Redis outage: every log line is JSON, the limiter logs it once; routine 503s and a refused sync are info/warn without a stack', async () => {
    const d = dir();
    for (const n of ['a', 'b']) writeFileSync(path.join(d, `${n}.session`), '');
    const r = await start({ TELEGATE_SESSIONS_DIR: d });
    // Routine answers first: nothing free, a refused sync.
    assert.equal((await call(r, '/sync', 'POST')).status, 200);
    const none = await until(async () => {
      const res = await call(r, '/session');
      return res.status === 503 ? res : null;
    }, 'every session leased');
    assert.equal(((await none.json()) as { detail: { error: string } }).detail.error, 'no_free_session');
    for (const n of ['a', 'b']) unlinkSync(path.join(d, `${n}.session`));
    const refused = await call(r, '/sync', 'POST');
    assert.equal(refused.status, 500);
    assert.equal(((await refused.json()) as { detail: { error: string } }).detail.error, 'sync_refused');

    // The outage: several requests through the limiter, and a probe.
    await redis.kill('SIGKILL');
    await until(async () => (await r.fetch('/readyz')).status === 503, 'readiness to fail');
    for (let i = 0; i < 8; i++) {
      const res = await call(r, i % 2 ? '/status' : '/session');
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { detail: { error: 'store_unavailable' } });
    }
    await redis.spawn();
    await until(async () => (await call(r, '/status')).status === 200, 'service back after the outage', 10_000);
    assert.equal(await r.kill('SIGTERM'), 0);

    const lines = logLines(r.output);
    const limiter = lines.filter((l) => l.msg.startsWith('rate limiter: the store is unavailable'));
    assert.equal(limiter.length, 1, `limiter outage lines: ${JSON.stringify(limiter)}`);
    assert.ok(lines.some((l) => l.msg === 'rate limiter: the store counts again'));
    const reqLine = (p: string, status: number): LogLine[] => lines.filter((l) => l.req?.path === p && l.res?.status === status);
    const noFree = reqLine('/session', 503).filter((l) => l.reason === undefined);
    assert.equal(noFree.length, 1, 'the no_free_session answer is logged once');
    assert.equal(noFree[0]!.level, 'info');
    const notReady = reqLine('/readyz', 503);
    assert.ok(notReady.length > 0);
    const syncRefused = reqLine('/sync', 500);
    assert.equal(syncRefused.length, 1);
    assert.equal(syncRefused[0]!.level, 'warn');
    assert.match(String(syncRefused[0]!.reason), /sync_refused/);
    const unavailable = lines.filter((l) => l.res?.status === 503 && l.reason !== undefined);
    assert.ok(unavailable.length >= 8, `${unavailable.length} store_unavailable lines`);
    for (const l of [...noFree, ...notReady, ...syncRefused, ...unavailable]) {
      assert.ok(['info', 'warn'].includes(l.level), JSON.stringify(l));
      assert.equal(l.err, undefined, `no stack for a routine answer: ${JSON.stringify(l)}`);
    }
    assert.ok(!lines.some((l) => l.level === 'error'), `no error lines: ${JSON.stringify(lines.filter((l) => l.level === 'error'))}`);
  });

  it('Redis out of memory (noeviction): /sync is sync_failed with a reason, reads work, and no secret reaches the log', async () => {
    const d = dir();
    const sidecar = { proxy: { proxy_type: 'socks5', addr: '5.6.7.8', port: 1082, user: 'proxyuser', pass: PROXY_PASSWORD, rdns: true } };
    const expected = makeSessions(d, [
      { name: 'oom_a', kind: 'telethon', sidecar },
      { name: 'oom_b', kind: 'telethon', sidecar },
    ]);
    const secrets = [PROXY_PASSWORD, KEY, ...Object.values(expected).map((e) => e.session_string ?? '')].filter((s) => s.length > 8);
    assert.ok(secrets.length >= 4, 'the fixtures have session strings');
    const env = { TELEGATE_SESSIONS_DIR: d, TELEGATE_EXPOSE_SESSION_STRING: 'true', LOG_LEVEL: 'debug' };
    // One replica without a limiter (every store write is reached), one with it (the limiter's own call meets the OOM).
    const bare = await start({ ...env, TELEGATE_RATE_LIMIT: '0' });
    const limited = await start(env);
    await until(async () => ((await (await call(bare, '/status')).json()) as { free: number }).free === 2, 'the files synced');
    const got = await call(bare, '/session');
    assert.equal(got.status, 200);
    const lease = (await got.json()) as { session_id: number; lease_token: string; session_string: string };
    assert.ok(secrets.includes(lease.session_string), 'the session string is exposed (so it is in the store)');

    const c = await testClient(redis.url);
    await c.config('SET', 'maxmemory-policy', 'noeviction');
    await c.config('SET', 'maxmemory', '1');
    c.disconnect();
    // New files to write: a sync batch full of secrets.
    makeSessions(d, [
      { name: 'oom_c', kind: 'telethon', sidecar },
      { name: 'oom_d', kind: 'telethon', sidecar },
    ]);
    for (const r of [bare, limited]) {
      const s = await call(r, '/sync', 'POST');
      assert.equal(s.status, 500);
      const body = (await s.json()) as { detail: { error: string; reason: string } };
      assert.equal(body.detail.error, 'sync_failed');
      assert.match(body.detail.reason, /OOM/);
      for (const secret of secrets) assert.ok(!body.detail.reason.includes(secret));
      assert.equal((await call(r, '/status')).status, 200, 'reads still work');
    }
    const writes: Array<[string, string, unknown]> = [
      ['/session', 'GET', undefined],
      ['/release', 'POST', { session_id: lease.session_id, lease_token: lease.lease_token }],
      ['/floodwait', 'POST', { session_id: lease.session_id, wait_seconds: 60, lease_token: lease.lease_token }],
      ['/heartbeat', 'POST', { session_id: lease.session_id, lease_token: lease.lease_token }],
      ['/invalidate', 'POST', { session_id: lease.session_id, reason: 'x' }],
    ];
    // Redis checks OOM at a script's first write only, and only for writes that may grow memory: these
    // scripts may still run. Whatever each answers, it is JSON, and a refusal is store_unavailable.
    for (const [p, method, body] of writes) {
      const res = await call(bare, p, method, body);
      const answer = (await res.json()) as { detail?: unknown };
      assert.ok([200, 404, 409, 503].includes(res.status), `${method} ${p}: ${res.status} ${JSON.stringify(answer)}`);
      if (res.status === 503) assert.deepEqual(answer, { detail: { error: 'store_unavailable' } });
    }
    for (const r of replicas) await r.kill('SIGTERM');
    for (const r of [bare, limited]) {
      const lines = logLines(r.output);
      for (const secret of secrets) assert.ok(!r.output.includes(secret), `a secret in the log: ${secret.slice(0, 6)}…`);
      assert.ok(lines.some((l) => l.level === 'error' && /OOM/.test(String(l.reason))), 'the OOM is logged as an error, with its reason');
    }
    assert.ok(
      logLines(limited.output).filter((l) => l.msg.startsWith('rate limiter: the store refuses')).length === 1,
      'the limiter logs the refusal once',
    );
  });

  it('a Node warning and an uncaught exception after start are JSON log lines too (exit 1 for the crash)', async () => {
    const d = dir();
    // Preloaded code that misbehaves once the service runs: stands in for any dependency doing so.
    const preload = path.join(d, 'misbehave.cjs');
    writeFileSync(
      preload,
      // (--require runs in the session-file reader threads too: misbehave in the main thread only.)
      "if (require('node:worker_threads').isMainThread) {\n" +
        "  setTimeout(() => process.emitWarning('something odd', 'OddWarning'), 300).unref();\n" +
        "  if (process.env.CRASH) setTimeout(() => { throw new Error('boom from a timer'); }, 600);\n" +
        '}\n',
    );
    for (const crash of [false, true]) {
      const proc = spawn(process.execPath, ['--require', preload, MAIN], {
        env: { PATH: process.env.PATH ?? '', TELEGATE_API_KEYS: KEY, PORT: String(await freePort()), LOG_LEVEL: 'info', TELEGATE_SESSIONS_DIR: d, ...(crash ? { CRASH: '1' } : {}) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
      proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = once(proc, 'exit') as Promise<[number | null]>;
      await until(() => output.includes('something odd') && (!crash || output.includes('boom')), `the warning (and the crash) in the output\n${output}`, 10_000);
      if (!crash) proc.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, crash ? 1 : 0, output);
      const lines = logLines(output);
      assert.ok(lines.some((l) => l.msg === 'node warning' && l.level === 'warn'));
      if (crash) assert.ok(lines.some((l) => l.msg === 'uncaught exception; exiting' && l.level === 'fatal'));
    }
  });

  it('a port in use: one line naming it (EADDRINUSE), exit 1', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '0.0.0.0');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    try {
      const proc = spawn(process.execPath, [MAIN], {
        env: { PATH: process.env.PATH ?? '', TELEGATE_API_KEYS: KEY, PORT: String(port), LOG_LEVEL: 'warn', TELEGATE_SESSIONS_DIR: dir() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const [code] = (await once(proc, 'exit')) as [number | null];
      assert.equal(code, 1);
      assert.equal(stderr, `telegate: port ${port} is already in use (EADDRINUSE)\n`);
    } finally {
      blocker.close();
    }
  });

  for (const fault of ['killed', 'stalled'] as const) {
    it(`SIGTERM with Redis ${fault}: exit 0 within a few seconds, not the shutdown bound`, async () => {
      const r = await start({ TELEGATE_SESSIONS_DIR: dir() });
      await until(() => r.output.includes('leadership gained'), 'leadership', 10_000);
      if (fault === 'killed') {
        await redis.kill('SIGKILL');
        await until(async () => (await r.fetch('/readyz')).status === 503, 'readiness to fail');
      } else process.kill(redis.pid, 'SIGSTOP');
      const t0 = Date.now();
      const code = await r.kill('SIGTERM');
      const ms = Date.now() - t0;
      assert.equal(code, 0, r.output.slice(-2000));
      // The default bound is 30 s (+5 s backstop); a dead connection must not take it.
      assert.ok(ms < 12_000, `shutdown took ${ms} ms`);
      assert.ok(!r.output.includes('graceful shutdown timed out'));
      logLines(r.output);
    });
  }
});
