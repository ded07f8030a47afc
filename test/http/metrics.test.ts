/**
 * GET /metrics (Prometheus, per-app registry) and the request logs: what is
 * counted and how it is labelled, the store being down during a scrape, the
 * leader's job hooks through a real replica, and that no secret ever reaches
 * a log line.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createLogger } from '../../src/log';
import { MemoryStore } from '../../src/pool/memory';
import { RedisStore, createRedis } from '../../src/pool/redis';
import { startService } from '../../src/service';
import { until } from '../../support/poll';
import { freePort } from '../../support/ports';
import { KEY, makeApp, sessionsDir, testConfig, type TestApp } from '../helpers/app';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse the Prometheus text format (enough of it for these tests). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

const scrape = async (t: TestApp): Promise<Sample[]> => {
  const r = await request(t.app).get('/metrics').set('X-API-Key', KEY).expect(200);
  return parse(r.text);
};

describe('GET /metrics', () => {
  let t: TestApp;
  let dir: string;

  beforeEach(async () => {
    dir = sessionsDir('alpha', 'beta', 'gamma');
    t = await makeApp('memory', { TELEGATE_SESSIONS_DIR: dir }, undefined, { metrics: true });
    await request(t.app).post('/sync').set('X-API-Key', KEY).expect(200);
  });
  afterEach(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (path: string) => request(t.app).get(path).set('X-API-Key', KEY);
  const post = (path: string) => request(t.app).post(path).set('X-API-Key', KEY);

  it('needs the API key by default, answering Prometheus text 0.0.4', async () => {
    assert.deepEqual((await request(t.app).get('/metrics').expect(401)).body, { detail: 'API key required' });
    await request(t.app).get('/metrics').set('X-API-Key', 'wrong').expect(403);
    await request(t.app).post('/metrics').expect(405);
    const r = await get('/metrics').expect(200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(r.text, /^# HELP telegate_http_requests_total /m);
    assert.match(r.text, /^# TYPE telegate_http_request_duration_seconds histogram$/m);
  });

  it('is public like /healthz when TELEGATE_METRICS_PUBLIC is on', async () => {
    const pub = await makeApp('memory', { TELEGATE_METRICS_PUBLIC: 'true' }, undefined, { metrics: true });
    const r = await request(pub.app).get('/metrics').expect(200);
    assert.match(r.text, /telegate_pool_sessions/);
    await request(pub.app).get('/status').expect(401); // nothing else became public
    await pub.close();
  });

  it('is a 404 when the app has no metrics', async () => {
    const bare = await makeApp('memory');
    await request(bare.app).get('/metrics').set('X-API-Key', KEY).expect(404);
    await bare.close();
  });

  it('counts requests and their duration by matched route and status, never by raw URL', async () => {
    await post('/release?session_id=1&lease_token=raw-url-secret').expect(409);
    await post('/release').send({ session_id: 2 }).expect(200);
    await get('/status/').expect(200); // a trailing slash is the same route
    await request(t.app).get('/status').expect(401);
    await get('/no/such/path?x=raw-url-secret').expect(404);
    await request(t.app).get('/healthz').expect(200);
    const r = await get('/metrics').expect(200);
    assert.ok(!r.text.includes('raw-url-secret') && !r.text.includes('/no/such/path'), 'the raw URL leaked into a label');
    const m = parse(r.text);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'POST', route: '/release', status: '409' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'POST', route: '/release', status: '200' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'GET', route: '/status', status: '200' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'GET', route: '/status', status: '401' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { method: 'GET', route: '/healthz', status: '200' }), 1);
    assert.equal(value(m, 'telegate_http_request_duration_seconds_count', { method: 'POST', route: '/release', status: '200' }), 1);
    assert.equal(value(m, 'telegate_http_request_duration_seconds_bucket', { method: 'POST', route: '/release', status: '200', le: '+Inf' }), 1);
    const routes = new Set(m.filter((s) => s.name === 'telegate_http_requests_total').map((s) => s.labels.route));
    for (const route of routes) assert.ok(route === 'unmatched' || route?.startsWith('/'), `odd route label ${String(route)}`);
  });

  it('counts acquisitions: issued, none_free, waited (after parking in a long-poll), abandoned', async () => {
    const held: Array<{ session_id: number; lease_token: string }> = [];
    for (let i = 0; i < 3; i++) held.push((await get('/session').expect(200)).body);
    await get('/session').expect(503);
    const waiting = get('/session?wait=5').then((r) => r);
    await until(() => t.pool.waiting === 1, 'the long-poll to park');
    await post('/release').send(held[0]).expect(200);
    assert.equal((await waiting).status, 200);
    // A client that gives up while parked.
    const gone = get('/session?wait=5')
      .timeout(300)
      .then(
        () => assert.fail('expected a client timeout'),
        (err: Error) => err,
      );
    await until(() => t.pool.waiting === 1, 'the second long-poll to park');
    assert.match((await gone).message, /timeout/i);
    await until(async () => value(await scrape(t), 'telegate_acquisitions_total', { result: 'abandoned' }) === 1, 'abandoned to be counted');
    const m = await scrape(t);
    assert.equal(value(m, 'telegate_acquisitions_total', { result: 'issued' }), 3);
    assert.equal(value(m, 'telegate_acquisitions_total', { result: 'none_free' }), 1);
    assert.equal(value(m, 'telegate_acquisitions_total', { result: 'waited' }), 1);
    assert.equal(value(m, 'telegate_http_requests_total', { route: '/session', status: '499' }), 1);
    assert.equal(value(m, 'telegate_longpoll_waiting'), 0);
  });

  it('counts flood waits and invalidations reported', async () => {
    const s = (await get('/session').expect(200)).body as { session_id: number; lease_token: string };
    await post('/floodwait').send({ session_id: s.session_id, wait_seconds: 60, lease_token: s.lease_token }).expect(200);
    await post('/floodwait').send({ session_id: 999, wait_seconds: 60 }).expect(404); // not counted
    await post('/invalidate').send({ session_id: 2, reason: 'USER_DEACTIVATED' }).expect(200);
    const m = await scrape(t);
    assert.equal(value(m, 'telegate_floodwaits_reported_total'), 1);
    assert.equal(value(m, 'telegate_invalidations_total'), 1);
  });

  it('pool gauges per state come from the store at scrape time', async () => {
    const a = (await get('/session').expect(200)).body as { session_id: number };
    await post('/floodwait').send({ session_id: a.session_id, wait_seconds: 600 }).expect(200);
    await get('/session').expect(200);
    await post('/invalidate').send({ session_id: 3 }).expect(200);
    const m = await scrape(t);
    const pool = Object.fromEntries(['free', 'in_use', 'floodwait', 'invalidated', 'total'].map((state) => [state, value(m, 'telegate_pool_sessions', { state })]));
    assert.deepEqual(pool, { free: 0, in_use: 1, floodwait: 1, invalidated: 1, total: 3 });
    assert.equal(value(m, 'telegate_store_up'), 1);
    await post('/restore').send({ session_id: 3 }).expect(200);
    assert.equal(value(await scrape(t), 'telegate_pool_sessions', { state: 'free' }), 1);
  });

  it('counts manual syncs by result, with their duration', async () => {
    await post('/sync').expect(200); // plus the one in beforeEach
    rmSync(`${dir}/alpha.session`);
    rmSync(`${dir}/beta.session`);
    await post('/sync').expect(500); // would remove most of the pool
    rmSync(dir, { recursive: true, force: true });
    await post('/sync').expect(500); // directory gone
    const m = await scrape(t);
    assert.equal(value(m, 'telegate_sync_runs_total', { trigger: 'manual', result: 'ok' }), 2);
    assert.equal(value(m, 'telegate_sync_runs_total', { trigger: 'manual', result: 'refused' }), 1);
    assert.equal(value(m, 'telegate_sync_runs_total', { trigger: 'manual', result: 'failed' }), 1);
    assert.equal(value(m, 'telegate_sync_duration_seconds_count', { trigger: 'manual', result: 'ok' }), 2);
  });

  it('exports the default process metrics on the app registry', async () => {
    const m = await scrape(t);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.ok(value(m, name) !== undefined, `${name} missing`);
    }
  });

  it('keeps one registry per app: two apps never share counters', async () => {
    const other = await makeApp('memory', {}, undefined, { metrics: true });
    await get('/status').expect(200);
    await get('/status').expect(200);
    assert.equal(value(await scrape(t), 'telegate_http_requests_total', { route: '/status', status: '200' }), 2);
    assert.equal(value(await scrape(other), 'telegate_http_requests_total', { route: '/status', status: '200' }), undefined);
    await other.close();
  });
});

describe('GET /session without a wait: a client gone while its lease is taken', () => {
  it('gets nothing held for it: the session is given straight back, counted abandoned and 499', async () => {
    const dir = sessionsDir('alpha');
    const store = new MemoryStore();
    // The acquire waits at a gate the test opens once the server has seen the client leave.
    let entered!: () => void;
    const inAcquire = new Promise<void>((resolve) => (entered = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const acquire = store.acquire.bind(store);
    store.acquire = async (...args) => {
      entered();
      await gate;
      return acquire(...args);
    };
    const t = await makeApp('memory', { TELEGATE_SESSIONS_DIR: dir }, store, { metrics: true });
    const server = createServer(t.app).listen(0, '127.0.0.1');
    try {
      await once(server, 'listening');
      await request(t.app).post('/sync').set('X-API-Key', KEY).expect(200);
      const client = httpGet({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/session', headers: { 'X-API-Key': KEY } });
      client.on('error', () => undefined);
      await inAcquire;
      client.destroy();
      await until(async () => (await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)))) === 0, 'the server to see the client leave', 15_000);
      open();
      await until(async () => value(await scrape(t), 'telegate_acquisitions_total', { result: 'abandoned' }) === 1, 'the lease to be counted abandoned', 15_000);
      const m = await scrape(t);
      assert.equal(value(m, 'telegate_http_requests_total', { route: '/session', status: '499' }), 1);
      const status = (await request(t.app).get('/status').set('X-API-Key', KEY).expect(200)).body as { free: number; in_use: number };
      assert.deepEqual([status.free, status.in_use], [1, 0], 'nothing is held for a client that left');
    } finally {
      server.close();
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GET /metrics with the store down', () => {
  it('still answers 200 with the rest when the store fails: pool gauges left out, store_up 0', async () => {
    const store = new MemoryStore();
    const t = await makeApp('memory', {}, store, { metrics: true });
    await request(t.app).get('/healthz').expect(200);
    store.status = () => Promise.reject(new Error('connection refused'));
    const m = await scrape(t);
    assert.equal(value(m, 'telegate_store_up'), 0);
    assert.equal(m.filter((s) => s.name === 'telegate_pool_sessions').length, 0);
    assert.equal(value(m, 'telegate_http_requests_total', { route: '/healthz', status: '200' }), 1);
    assert.ok(value(m, 'process_cpu_user_seconds_total') !== undefined);
    await t.close();
  });

  it('does not wait for a store that hangs longer than its bound', async () => {
    const store = new MemoryStore();
    const t = await makeApp('memory', {}, store, { metrics: true, storeTimeoutMs: 200 });
    store.status = () => new Promise(() => undefined);
    const started = Date.now();
    const m = await scrape(t);
    assert.ok(Date.now() - started < 1500, `scrape took ${Date.now() - started} ms`);
    assert.equal(value(m, 'telegate_store_up'), 0);
    await t.close();
  });

  it('answers 200 on Redis as well when Redis is unreachable', async () => {
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}`);
    dead.on('error', () => undefined);
    const t = await makeApp('memory', {}, new RedisStore(dead, 'dead'), { metrics: true });
    const started = Date.now();
    const m = await scrape(t);
    assert.ok(Date.now() - started < 2500, `scrape took ${Date.now() - started} ms`);
    assert.equal(value(m, 'telegate_store_up'), 0);
    dead.disconnect();
    await t.close();
  });
});

describe('metrics of a replica (startService): leadership, scheduled sync, reaper', () => {
  it('exports telegate_leader, scheduled sync runs and reclaimed leases', async () => {
    const dir = sessionsDir('one', 'two');
    const lines: string[] = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
    const config = testConfig({
      PORT: String(await freePort()),
      TELEGATE_SESSIONS_DIR: dir,
      TELEGATE_LEASE_TTL_SECONDS: '1',
      TELEGATE_REAPER_INTERVAL_MS: '100',
      TELEGATE_METRICS_PUBLIC: 'true',
    });
    const service = await startService({ config, logger, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${service.port}`;
      const metrics = async (): Promise<Sample[]> => parse(await (await fetch(`${base}/metrics`)).text());
      await until(async () => value(await metrics(), 'telegate_sync_runs_total', { trigger: 'scheduled', result: 'ok' }) === 1, 'the start-up sync');
      const m = await metrics();
      assert.equal(value(m, 'telegate_leader'), 1);
      assert.equal(value(m, 'telegate_sync_duration_seconds_count', { trigger: 'scheduled', result: 'ok' }), 1);
      assert.equal(value(m, 'telegate_pool_sessions', { state: 'total' }), 2);
      // Lease one and let it expire; no scrape meanwhile (a status read would promote it first).
      const r = await fetch(`${base}/session`, { headers: { 'X-API-Key': KEY } });
      assert.equal(r.status, 200);
      await until(() => lines.some((l) => l.includes('expired leases reclaimed')), 'the reaper', 5000);
      assert.equal(value(await metrics(), 'telegate_leases_reclaimed_total'), 1);
    } finally {
      await service.shutdown('test');
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(service.leadership.isLeader, false);
  });
});

describe('request logs', () => {
  const PROXY_PASSWORD = 'proxy-pass-9f8e7d6c';
  const SESSION_STRING = '1BVtsOKABu-session-string-5a4b3c2d';
  const WRONG_KEY = 'wrong-key-a1b2c3d4e5f6';

  const capture = (level: 'info' | 'trace') => {
    const lines: string[] = [];
    return { lines, logger: createLogger(level, { write: (s: string) => void lines.push(s) }) };
  };

  it('honours X-Request-Id, returns it, and puts it on the log line', async () => {
    const { lines, logger } = capture('info');
    const t = await makeApp('memory', {}, undefined, { logger });
    const r = await request(t.app).get('/status').set('X-API-Key', KEY).set('X-Request-Id', 'req-4242').expect(200);
    assert.equal(r.headers['x-request-id'], 'req-4242');
    const r2 = await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
    assert.match(String(r2.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    await until(() => lines.length >= 2, 'two log lines');
    const first = JSON.parse(lines[0] as string);
    assert.equal(first.req.id, 'req-4242');
    assert.equal(first.req.path, '/status');
    assert.equal(first.res.status, 200);
    await t.close();
  });

  it('never logs API keys, lease tokens, proxy passwords or session strings', async () => {
    const { lines, logger } = capture('trace');
    const store = new MemoryStore();
    await store.applySync({
      upserts: [
        { name: 'alpha', meta: { proxy: { type: 'socks5', host: '10.0.0.5', port: 1080, username: 'u', password: PROXY_PASSWORD }, sessionString: SESSION_STRING } },
        { name: 'beta', meta: {} },
      ],
      removes: [],
    });
    const t = await makeApp('memory', { TELEGATE_EXPOSE_SESSION_STRING: 'true' }, store, { logger, metrics: true });
    const key = (r: request.Test) => r.set('X-API-Key', KEY);
    const s = (await key(request(t.app).get('/session')).expect(200)).body as { session_id: number; lease_token: string; session_string: string; proxy: { password: string } };
    assert.equal(s.session_string, SESSION_STRING); // the secrets did cross the wire
    assert.equal(s.proxy.password, PROXY_PASSWORD);
    const token = s.lease_token;
    await key(request(t.app).post(`/heartbeat?session_id=${s.session_id}&lease_token=${token}`)).expect(200);
    await key(request(t.app).post('/heartbeat')).send({ session_id: s.session_id, lease_token: token }).expect(200);
    await key(request(t.app).post('/heartbeat')).type('form').send({ session_id: String(s.session_id), lease_token: token }).expect(200);
    await key(request(t.app).post('/floodwait')).send({ session_id: s.session_id, wait_seconds: 5, lease_token: `${token}-stale` }).expect(409);
    await key(request(t.app).post(`/release?session_id=${s.session_id}&lease_token=${token}x`)).expect(409);
    await key(request(t.app).post('/release')).send({ session_id: s.session_id, lease_token: 'x'.repeat(129) + token }).expect(422);
    await key(request(t.app).post(`/release?session_id=${s.session_id}&lease_token=${token}`)).expect(200);
    await key(request(t.app).get('/sessions')).expect(200);
    await key(request(t.app).get('/metrics')).expect(200);
    await request(t.app).get('/status').set('X-API-Key', WRONG_KEY).expect(403);
    await request(t.app).get('/status').set('Authorization', `Bearer ${KEY}`).expect(401);
    const requests = 12;
    await until(() => lines.filter((l) => l.includes('"req"')).length >= requests, `${requests} request log lines`);
    const text = lines.join('');
    for (const [what, secret] of [
      ['API key', KEY],
      ['unknown API key', WRONG_KEY],
      ['lease token', token],
      ['proxy password', PROXY_PASSWORD],
      ['session string', SESSION_STRING],
    ] as const) {
      assert.ok(!text.includes(secret), `the ${what} reached the log:\n${lines.filter((l) => l.includes(secret)).join('')}`);
    }
    await t.close();
  });

  it('logs probes, scrapes and static pages at debug, never at info', async () => {
    const { lines, logger } = capture('trace');
    const t = await makeApp('memory', {}, undefined, { logger, metrics: true });
    await request(t.app).get('/healthz').expect(200);
    await request(t.app).get('/readyz').expect(200);
    await request(t.app).get('/metrics').set('X-API-Key', KEY).expect(200);
    await request(t.app).get('/ui').expect(200);
    await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
    await until(() => lines.filter((l) => l.includes('"req"')).length >= 5, 'five request log lines');
    const levels = Object.fromEntries(
      lines
        .map((l) => JSON.parse(l) as { level: string; req?: { path: string } })
        .filter((l) => l.req)
        .map((l) => [l.req?.path, l.level]),
    );
    assert.deepEqual(levels, { '/healthz': 'debug', '/readyz': 'debug', '/metrics': 'debug', '/ui': 'debug', '/status': 'info' });
    await t.close();
  });
});
