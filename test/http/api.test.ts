/**
 * The HTTP contract (spec §1–§4), black-box through supertest, on both stores.
 */
import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { ServerResponse, type IncomingMessage } from 'node:http';
import request from 'supertest';
import { MemoryStore } from '../../src/pool/memory';
import { RedisStore, createRedis } from '../../src/pool/redis';
import { until } from '../../support/poll';
import { freePort } from '../../support/ports';
import { ADMIN_KEY, KEY, makeApp, sessionsDir, type StoreKind, type TestApp } from '../helpers/app';

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`HTTP API (${kind} store)`, () => {
    let t: TestApp;
    let dir: string;

    beforeEach(async () => {
      dir = sessionsDir('alpha', 'beta', 'gamma');
      t = await makeApp(kind, { TELEGATE_SESSIONS_DIR: dir });
      await request(t.app).post('/sync').set('X-API-Key', KEY).expect(200);
    });
    afterEach(async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const get = (path: string) => request(t.app).get(path).set('X-API-Key', KEY);
    const post = (path: string) => request(t.app).post(path).set('X-API-Key', KEY);

    describe('authentication and routing', () => {
      it('401 without a key, 403 with an unknown one', async () => {
        const r1 = await request(t.app).get('/status').expect(401);
        assert.deepEqual(r1.body, { detail: 'API key required' });
        const r2 = await request(t.app).get('/status').set('X-API-Key', 'wrong').expect(403);
        assert.deepEqual(r2.body, { detail: 'Invalid API key' });
        await request(t.app).get('/status').set('X-API-Key', '').expect(401);
      });

      it('checks authentication before validation, even for a malformed body', async () => {
        await request(t.app).post('/release').expect(401);
        await request(t.app).post('/release').set('Content-Type', 'application/json').send('{"session_id":').expect(401);
      });

      it('404 for unknown routes, 405 for wrong methods, both JSON and before auth', async () => {
        const r1 = await request(t.app).get('/nope').expect(404).expect('Content-Type', /json/);
        assert.deepEqual(r1.body, { detail: 'Not Found' });
        const r2 = await request(t.app).post('/status').expect(405).expect('Content-Type', /json/);
        assert.deepEqual(r2.body, { detail: 'Method Not Allowed' });
        assert.equal(r2.headers.allow, 'GET');
        await request(t.app).get('/release').expect(405);
      });

      it('health and readiness need no key', async () => {
        assert.deepEqual((await request(t.app).get('/healthz').expect(200)).body, { status: 'ok' });
        await request(t.app).get('/readyz').expect(200);
      });

      it('JSON answers carry the fixed API security headers, also errors and unauthenticated ones', async () => {
        for (const r of [await get('/status').expect(200), await request(t.app).get('/status').expect(401), await get('/nope').expect(404)]) {
          assert.equal(r.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
          assert.equal(r.headers['x-content-type-options'], 'nosniff');
          assert.equal(r.headers['x-frame-options'], 'DENY');
          assert.equal(r.headers['x-powered-by'], undefined);
        }
      });

      it('honours a sane X-Request-Id and makes one otherwise', async () => {
        const r = await get('/status').set('X-Request-Id', 'abc-123').expect(200);
        assert.equal(r.headers['x-request-id'], 'abc-123');
        const r2 = await get('/status').set('X-Request-Id', 'x'.repeat(200)).expect(200);
        assert.match(String(r2.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      });
    });

    describe('GET /status', () => {
      it('counts every state, with next_available and invalidated', async () => {
        const a = (await get('/session').expect(200)).body as { session_id: number };
        const b = (await get('/session').expect(200)).body as { session_id: number };
        await post('/floodwait').query({ session_id: a.session_id, wait_seconds: 3600 }).expect(200);
        await post('/invalidate').query({ session_id: b.session_id }).expect(200);
        await get('/session').expect(200);
        const s = (await get('/status').expect(200)).body as Record<string, unknown>;
        assert.deepEqual(Object.keys(s).sort(), ['free', 'health', 'in_floodwait', 'in_use', 'invalidated', 'next_available', 'rests', 'total']);
        assert.deepEqual([s.total, s.free, s.in_use, s.in_floodwait, s.invalidated], [3, 0, 1, 2, 1]);
        assert.match(String(s.next_available), TIME);
      });
    });

    describe('GET /session', () => {
      it('issues a session with a lease', async () => {
        const r = await get('/session').expect(200).expect('Content-Type', /json/);
        assert.equal(r.body.session_id, 1);
        assert.equal(r.body.session_name, 'alpha');
        assert.match(r.body.lease_token, /^[\w-]{20,}$/);
        assert.match(r.body.lease_expires_at, TIME);
        assert.equal(r.body.proxy, null);
      });

      it('503 with the original detail and Retry-After when nothing is free', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 3; i++) ids.push((await get('/session').expect(200)).body.session_id as number);
        await post('/floodwait').send({ session_id: ids[0], wait_seconds: 100 }).expect(200);
        const r = await get('/session').expect(503);
        assert.deepEqual(r.body, { detail: { error: 'no_free_session', in_floodwait: 1, next_release_in: 100, in_use: 2 } });
        assert.equal(r.headers['retry-after'], '100');
      });

      it('503 with next_release_in null and no Retry-After when no flood wait runs', async () => {
        for (let i = 0; i < 3; i++) await get('/session').expect(200);
        const r = await get('/session').expect(503);
        assert.equal(r.body.detail.next_release_in, null);
        assert.equal(r.headers['retry-after'], undefined);
      });

      it('wait=N long-polls until a session is released', async () => {
        const held = [];
        for (let i = 0; i < 3; i++) held.push((await get('/session').expect(200)).body as { session_id: number; lease_token: string });
        const waiting = get('/session?wait=5').then((r) => r);
        // Released only once the request is parked: else the release happens first and this tests a plain acquire.
        await until(() => t.pool.waiting === 1, 'the request to park');
        await post('/release').send({ session_id: held[1]?.session_id, lease_token: held[1]?.lease_token }).expect(200);
        const r = await waiting;
        assert.equal(r.status, 200);
        assert.equal(r.body.session_id, held[1]?.session_id);
      });

      it('wait out of range is a 422', async () => {
        const r = await get('/session?wait=61').expect(422);
        assert.equal(r.body.detail[0].type, 'less_than_equal');
      });
    });

    describe('POST /release', () => {
      it('releases, and is idempotent for unknown and free ids', async () => {
        const s = (await get('/session').expect(200)).body as { session_id: number };
        assert.deepEqual((await post(`/release?session_id=${s.session_id}`).expect(200)).body, { status: 'released', session_id: s.session_id });
        await post(`/release?session_id=${s.session_id}`).expect(200);
        assert.deepEqual((await post('/release?session_id=987').expect(200)).body, { status: 'released', session_id: 987 });
        assert.equal((await get('/status')).body.free, 3);
      });

      it('409 lease_mismatch for a token that is not the lease, changing nothing', async () => {
        const s = (await get('/session').expect(200)).body as { session_id: number };
        const r = await post('/release').send({ session_id: s.session_id, lease_token: 'stale' }).expect(409);
        assert.deepEqual(r.body, { detail: { error: 'lease_mismatch', session_id: s.session_id } });
        assert.equal((await get('/status')).body.in_use, 1);
      });

      it('accepts form bodies and JSON bodies; the query string wins', async () => {
        const a = (await get('/session')).body as { session_id: number };
        const b = (await get('/session')).body as { session_id: number };
        await post('/release').type('form').send({ session_id: String(a.session_id) }).expect(200);
        const r = await post(`/release?session_id=${b.session_id}`).send({ session_id: 999 }).expect(200);
        assert.equal(r.body.session_id, b.session_id);
        assert.equal((await get('/status')).body.free, 3);
      });
    });

    describe('POST /release and /floodwait with next=true (one request per cycle)', () => {
      type Leased = { session_id: number; session_name: string; lease_token: string; lease_expires_at: string; proxy: unknown };

      it('release answers the next session exactly as GET /session does', async () => {
        const a = (await get('/session').expect(200)).body as Leased;
        const r = await post('/release').send({ session_id: a.session_id, lease_token: a.lease_token, next: true }).expect(200);
        const n = r.body as Leased;
        assert.deepEqual(Object.keys(n).sort(), Object.keys(a).sort(), 'the GET /session body');
        assert.equal(n.session_name, 'beta', 'the least recently used free one');
        assert.match(n.lease_expires_at, TIME);
        const st = (await get('/status')).body as { free: number; in_use: number };
        assert.deepEqual([st.free, st.in_use], [2, 1], 'a released, beta leased');
        // next=false (or absent) keeps the plain answer
        assert.deepEqual((await post('/release').query({ session_id: n.session_id, next: 'false' }).expect(200)).body, { status: 'released', session_id: n.session_id });
      });

      it('flood wait with next: the session rests and the next one is answered; none left is the 503 of GET /session', async () => {
        const held: Leased[] = [];
        for (let i = 0; i < 3; i++) held.push((await get('/session').expect(200)).body as Leased);
        const [a, b] = held as [Leased, Leased];
        await post('/release').send({ session_id: b.session_id, lease_token: b.lease_token }).expect(200);
        const n = (await post('/floodwait').query({ session_id: a.session_id, wait_seconds: 120, lease_token: a.lease_token, next: 'true' }).expect(200)).body as Leased;
        assert.equal(n.session_id, b.session_id);
        // nothing free now: 503 no_free_session with Retry-After from the flood wait just set
        const r = await post('/floodwait').send({ session_id: n.session_id, wait_seconds: 60, lease_token: n.lease_token, next: true }).expect(503);
        assert.equal(r.body.detail.error, 'no_free_session');
        assert.equal(r.body.detail.in_floodwait, 2);
        assert.equal(r.headers['retry-after'], '60');
        const st = (await get('/status')).body as { in_floodwait: number; in_use: number };
        assert.deepEqual([st.in_floodwait, st.in_use], [2, 1]);
      });

      it('a stale token is 409 and nothing is issued; an unknown id on /floodwait is 404', async () => {
        const a = (await get('/session').expect(200)).body as Leased;
        const r = await post('/release').send({ session_id: a.session_id, lease_token: 'stale', next: true }).expect(409);
        assert.deepEqual(r.body, { detail: { error: 'lease_mismatch', session_id: a.session_id } });
        await post('/floodwait').send({ session_id: 987, wait_seconds: 5, next: true }).expect(404);
        const st = (await get('/status')).body as { free: number; in_use: number };
        assert.deepEqual([st.free, st.in_use], [2, 1]);
      });

      it('with wait, long-polls for the next session like GET /session?wait=', async () => {
        const held: Leased[] = [];
        for (let i = 0; i < 3; i++) held.push((await get('/session').expect(200)).body as Leased);
        const [a, b] = held as [Leased, Leased];
        const waiting = post('/floodwait').send({ session_id: a.session_id, wait_seconds: 600, lease_token: a.lease_token, next: true, wait: 5 }).then((r) => r);
        await until(() => t.pool.waiting === 1, 'the request to park');
        await post('/release').send({ session_id: b.session_id, lease_token: b.lease_token }).expect(200);
        const r = await waiting;
        assert.equal(r.status, 200);
        assert.equal(r.body.session_id, b.session_id);
      });

      it('next takes GET /session parameters through validation (422)', async () => {
        const r = await post('/release').send({ session_id: 1, next: 'maybe', wait: 61 }).expect(422);
        assert.deepEqual((r.body.detail as Array<{ loc: string[] }>).map((d) => d.loc[1]).sort(), ['next', 'wait']);
      });
    });

    describe('422 validation, FastAPI-shaped', () => {
      it('missing parameter', async () => {
        const r = await post('/release').expect(422);
        assert.deepEqual(r.body, { detail: [{ type: 'missing', loc: ['query', 'session_id'], msg: 'Field required', input: null }] });
      });

      for (const bad of ['abc', '1.5', '1e3', '', ' 1', '9007199254740993']) {
        it(`"${bad}" is not an integer`, async () => {
          const r = await post('/release').query({ session_id: bad }).expect(422);
          assert.deepEqual(r.body, {
            detail: [
              { type: 'int_parsing', loc: ['query', 'session_id'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: bad },
            ],
          });
        });
      }

      it('arrays, objects, booleans and fractions in JSON are not integers', async () => {
        for (const [v, type] of [[[1], 'int_type'], [{ a: 1 }, 'int_type'], [true, 'int_type'], [1.5, 'int_from_float']] as const) {
          const r = await post('/release').send({ session_id: v }).expect(422);
          assert.equal(r.body.detail[0].type, type);
          assert.deepEqual(r.body.detail[0].loc, ['body', 'session_id']);
          assert.deepEqual(r.body.detail[0].input, v);
        }
      });

      it('one entry per problem, with bounds', async () => {
        const r = await post('/floodwait').query({ session_id: 'x', wait_seconds: '31536001' }).expect(422);
        assert.deepEqual(
          r.body.detail.map((d: { type: string }) => d.type),
          ['int_parsing', 'less_than_equal'],
        );
        assert.deepEqual(r.body.detail[1].ctx, { le: 31536000 });
        const r2 = await post('/invalidate').send({ session_id: 1, reason: 'x'.repeat(501) }).expect(422);
        assert.equal(r2.body.detail[0].type, 'string_too_long');
      });

      it('malformed JSON is a 422 json_invalid; a JSON array body is a 422', async () => {
        const r = await post('/release').set('Content-Type', 'application/json').send('{"session_id": 1').expect(422);
        assert.equal(r.body.detail[0].type, 'json_invalid');
        const r2 = await post('/release').send([1, 2]).expect(422);
        assert.equal(r2.body.detail[0].type, 'model_attributes_type');
      });

      it('an oversized body is a JSON 413', async () => {
        const r = await post('/invalidate').send({ session_id: 1, reason: 'x'.repeat(40_000) }).expect(413).expect('Content-Type', /json/);
        assert.deepEqual(r.body, { detail: 'Request Entity Too Large' });
      });
    });

    describe('POST /invalidate, /restore, /floodwait, /heartbeat', () => {
      it('invalidate: 200 for known and unknown ids, and the session stops being in use', async () => {
        const s = (await get('/session')).body as { session_id: number };
        assert.deepEqual((await post('/invalidate').send({ session_id: s.session_id, reason: 'SESSION_REVOKED' }).expect(200)).body, {
          status: 'invalidated',
          session_id: s.session_id,
        });
        await post('/invalidate').send({ session_id: s.session_id }).expect(200);
        await post('/invalidate?session_id=4242').expect(200);
        const st = (await get('/status')).body;
        assert.deepEqual([st.in_use, st.invalidated, st.in_floodwait], [0, 1, 1]);
      });

      it('restore: back to free; 404 for an unknown id', async () => {
        const s = (await get('/session')).body as { session_id: number };
        await post('/invalidate').send({ session_id: s.session_id }).expect(200);
        assert.deepEqual((await post('/restore').send({ session_id: s.session_id }).expect(200)).body, {
          status: 'restored',
          session_id: s.session_id,
          state: 'free',
        });
        assert.deepEqual((await post('/restore?session_id=999').expect(404)).body, { detail: 'Session not found' });
      });

      it('floodwait: the answer shape, 404 and 409', async () => {
        const s = (await get('/session')).body as { session_id: number; lease_token: string };
        const r = await post('/floodwait').send({ session_id: s.session_id, wait_seconds: 30, lease_token: s.lease_token }).expect(200);
        assert.deepEqual(Object.keys(r.body).sort(), ['floodwait_until', 'in_floodwait', 'session_id', 'session_name', 'state', 'status']);
        assert.deepEqual([r.body.status, r.body.session_name, r.body.in_floodwait, r.body.state], ['floodwait_set', 'alpha', true, 'floodwait']);
        assert.match(r.body.floodwait_until, TIME);
        assert.deepEqual((await post('/floodwait').send({ session_id: 999, wait_seconds: 1 }).expect(404)).body, { detail: 'Session not found' });
        const other = (await get('/session')).body as { session_id: number };
        await post('/floodwait').send({ session_id: other.session_id, wait_seconds: 1, lease_token: 'nope' }).expect(409);
      });

      it('heartbeat: extends the lease; 409 when it is not current', async () => {
        const s = (await get('/session')).body as { session_id: number; lease_token: string };
        const r = await post('/heartbeat').send({ session_id: s.session_id, lease_token: s.lease_token }).expect(200);
        assert.deepEqual([r.body.status, r.body.session_id], ['extended', s.session_id]);
        assert.match(r.body.lease_expires_at, TIME);
        await post('/heartbeat').send({ session_id: s.session_id, lease_token: 'x' }).expect(409);
        await post('/heartbeat').send({ session_id: s.session_id }).expect(422);
      });
    });

    describe('POST /sync', () => {
      it('adds new files, removes gone ones unless leased or resting, keeps the rest', async () => {
        for (const n of ['eta', 'theta', 'iota']) writeFileSync(`${dir}/${n}.session`, '');
        await post('/sync').expect(200);
        const s = (await get('/session')).body as { session_id: number; session_name: string };
        assert.equal(s.session_name, 'alpha');
        rmSync(`${dir}/alpha.session`);
        renameSync(`${dir}/beta.session`, `${dir}/delta.session`);
        const r = await post('/sync').expect(200);
        // alpha is leased: it stays (marked file_missing) until its lease ends; beta was free: removed
        assert.deepEqual(r.body, { status: 'sync complete', details: { new_sessions: 1, removed_sessions: 1, total_sessions: 6, updated_sessions: 0 } });
        const list = (await get('/sessions').expect(200)).body as { sessions: Array<{ session_name: string; state: string; file_missing: boolean }> };
        assert.deepEqual(list.sessions.map((x) => x.session_name), ['alpha', 'gamma', 'eta', 'iota', 'theta', 'delta']);
        assert.deepEqual([list.sessions[0]?.state, list.sessions[0]?.file_missing, list.sessions[1]?.file_missing], ['in_use', true, false]);
        // its file returns: the next sync (this one has no file reader) clears the mark; the lease goes on
        writeFileSync(`${dir}/alpha.session`, '');
        assert.deepEqual((await post('/sync').expect(200)).body.details, { new_sessions: 0, removed_sessions: 0, total_sessions: 6, updated_sessions: 1 });
        const back = (await get('/sessions').expect(200)).body as { sessions: Array<{ state: string; file_missing: boolean }> };
        assert.deepEqual([back.sessions[0]?.state, back.sessions[0]?.file_missing], ['in_use', false]);
        // gone again, then released: out as file_missing, and the next sync removes it
        rmSync(`${dir}/alpha.session`);
        await post('/sync').expect(200);
        await post('/release').query({ session_id: s.session_id }).expect(200);
        const r2 = await post('/sync').expect(200);
        assert.deepEqual(r2.body.details, { new_sessions: 0, removed_sessions: 1, total_sessions: 5, updated_sessions: 0 });
      });

      it('a missing directory is a 500 sync_failed and removes nothing', async () => {
        rmSync(dir, { recursive: true, force: true });
        const r = await post('/sync').expect(500);
        assert.equal(r.body.detail.error, 'sync_failed');
        assert.match(r.body.detail.reason, /does not exist/);
        assert.equal((await get('/status')).body.total, 3);
      });

      it('refuses to remove most of the pool unless forced', async () => {
        rmSync(`${dir}/alpha.session`);
        rmSync(`${dir}/beta.session`);
        const r = await post('/sync').expect(500);
        assert.equal(r.body.detail.error, 'sync_refused');
        assert.equal((await get('/status')).body.total, 3);
        const forced = await post('/sync').send({ force: true }).expect(200);
        assert.equal(forced.body.details.removed_sessions, 2);
      });
    });

    describe('GET /sessions', () => {
      it('lists with state filter and cursor paging', async () => {
        const s = (await get('/session')).body as { session_id: number };
        const p1 = (await get('/sessions?limit=2').expect(200)).body;
        assert.equal(p1.sessions.length, 2);
        assert.equal(p1.sessions[0].state, 'in_use');
        assert.match(p1.sessions[0].lease_expires_at, TIME);
        const p2 = (await get(`/sessions?limit=2&cursor=${p1.next_cursor as string}`).expect(200)).body;
        assert.deepEqual(p2.sessions.map((x: { session_name: string }) => x.session_name), ['gamma']);
        assert.equal(p2.next_cursor, null);
        const used = (await get('/sessions?state=in_use').expect(200)).body;
        assert.deepEqual(used.sessions.map((x: { session_id: number }) => x.session_id), [s.session_id]);
        const bad = await get('/sessions?state=bogus').expect(422);
        assert.equal(bad.body.detail[0].type, 'enum');
      });
    });
  });
}

describe('HTTP API: failures and policies', () => {
  it('an unexpected error is a 500 with no internals', async () => {
    const broken = new MemoryStore();
    broken.status = () => Promise.reject(new Error('secret internals at /srv/x.ts:12'));
    const t = await makeApp('memory', {}, broken);
    const r = await request(t.app).get('/status').set('X-API-Key', KEY).expect(500).expect('Content-Type', /json/);
    assert.deepEqual(r.body, { detail: 'Internal Server Error' });
    await t.close();
  });

  it('a rejection with no reason still reaches the JSON error handler as a 500', async () => {
    const broken = new MemoryStore();
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test: a reasonless rejection
    broken.status = () => Promise.reject(undefined);
    const t = await makeApp('memory', {}, broken);
    const r = await request(t.app).get('/status').set('X-API-Key', KEY).expect(500).expect('Content-Type', /json/);
    assert.deepEqual(r.body, { detail: 'Internal Server Error' });
    await t.close();
  });

  it('API routes are served on Node\'s own request and response; only the HTML pages go through Express', async () => {
    const t = await makeApp('memory', {});
    // What the listener left the response's prototype as, per path: Express re-parents it onto its own.
    const nodeOwn = new Map<string, boolean>();
    const app = (req: IncomingMessage, res: ServerResponse): void => {
      t.app(req, res);
      nodeOwn.set(`${req.method} ${req.url}`, Object.getPrototypeOf(res) === ServerResponse.prototype);
    };
    await request(app).get('/status').set('X-API-Key', KEY).expect(200);
    await request(app).head('/status').set('X-API-Key', KEY).expect(200);
    await request(app).get('/status/').set('X-API-Key', KEY).expect(200);
    await request(app).post('/release').set('X-API-Key', KEY).send({ session_id: 1 }).expect(200);
    await request(app).get('/nowhere').set('X-API-Key', KEY).expect(404);
    await request(app).get('/docs').expect(200);
    assert.deepEqual(Object.fromEntries(nodeOwn), {
      'GET /status': true,
      'HEAD /status': true,
      'GET /status/': true,
      'POST /release': true,
      'GET /nowhere': true,
      'GET /docs': false,
    });
    await t.close();
  });

  it('Redis unreachable: 503 store_unavailable within 2 s, readiness 503, liveness 200', async () => {
    const dead = createRedis(`redis://127.0.0.1:${await freePort()}`);
    dead.on('error', () => undefined);
    const t = await makeApp('memory', { TELEGATE_SESSIONS_DIR: sessionsDir('a') }, new RedisStore(dead, 'dead'));
    for (const [method, path] of [['get', '/status'], ['get', '/session'], ['post', '/release?session_id=1'], ['post', '/sync']] as const) {
      const started = Date.now();
      const r = await request(t.app)[method](path).set('X-API-Key', KEY).expect(503);
      assert.deepEqual(r.body, { detail: { error: 'store_unavailable' } }, path);
      assert.ok(Date.now() - started < 2000, `${path} took ${Date.now() - started} ms`);
    }
    await request(t.app).get('/readyz').expect(503);
    await request(t.app).get('/healthz').expect(200);
    dead.disconnect();
    await t.close();
  });

  it('rate limit: 429 JSON with Retry-After and RateLimit headers, per key', async () => {
    for (const kind of ['memory', 'redis'] as StoreKind[]) {
      const t = await makeApp(kind, { TELEGATE_RATE_LIMIT: '3' });
      for (let i = 0; i < 3; i++) {
        const ok = await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
        assert.equal(ok.headers['ratelimit-limit'], '3');
      }
      const r = await request(t.app).get('/status').set('X-API-Key', KEY).expect(429);
      assert.deepEqual(r.body, { detail: 'Too Many Requests' });
      assert.ok(Number(r.headers['retry-after']) > 0);
      assert.equal(r.headers['ratelimit-remaining'], '0');
      await request(t.app).get('/healthz').expect(200); // probes are never limited
      await t.close();
    }
  });

  it('admin keys: when configured, worker keys cannot sync, restore or list', async () => {
    const t = await makeApp('memory', { TELEGATE_ADMIN_KEYS: ADMIN_KEY });
    for (const [m, p] of [['post', '/sync'], ['post', '/restore?session_id=1'], ['get', '/sessions']] as const) {
      const r = await request(t.app)[m](p).set('X-API-Key', KEY).expect(403);
      assert.deepEqual(r.body, { detail: 'Admin API key required' });
    }
    await request(t.app).get('/status').set('X-API-Key', KEY).expect(200);
    await request(t.app).get('/sessions').set('X-API-Key', ADMIN_KEY).expect(200);
    await t.close();
  });
});

/** Issue 10 item 6: tokenless release / flood wait / invalidate are foot-guns. */
for (const kind of ['memory', 'redis'] as StoreKind[]) {
  describe(`lease tokens on release, flood wait and invalidate (${kind} store)`, () => {
    const MISSING = { detail: [{ type: 'missing', loc: ['query', 'lease_token'], msg: 'Field required', input: null }] };
    let t: TestApp;
    let dir: string;
    afterEach(async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });
    async function start(env: Record<string, string>): Promise<void> {
      dir = sessionsDir('alpha', 'beta', 'gamma');
      t = await makeApp(kind, { TELEGATE_SESSIONS_DIR: dir, ...env });
      await request(t.app).post('/sync').set('X-API-Key', env.TELEGATE_ADMIN_KEYS ? ADMIN_KEY : KEY).expect(200);
    }
    const as = (key: string) => ({
      get: (path: string) => request(t.app).get(path).set('X-API-Key', key),
      post: (path: string) => request(t.app).post(path).set('X-API-Key', key),
    });
    const worker = () => as(KEY);
    const admin = () => as(ADMIN_KEY);
    async function lease(): Promise<{ session_id: number; lease_token: string }> {
      return (await worker().get('/session').expect(200)).body as { session_id: number; lease_token: string };
    }
    async function stateOf(id: number): Promise<string | undefined> {
      const key = t.config.adminKeys.length > 0 ? ADMIN_KEY : KEY;
      const page = (await as(key).get('/sessions').expect(200)).body as { sessions: Array<{ session_id: number; state: string }> };
      return page.sessions.find((s) => s.session_id === id)?.state;
    }

    it('default (no admin keys): every key keeps the tokenless powers', async () => {
      await start({});
      const a = await lease();
      await worker().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 60 }).expect(200);
      const b = await lease();
      await worker().post('/release').query({ session_id: b.session_id }).expect(200);
      await worker().post('/invalidate').query({ session_id: b.session_id }).expect(200);
    });

    it('with admin keys, a worker key needs the lease token: 422 without it, 409 with another, nothing changes', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      const a = await lease();
      for (const p of ['/release', '/invalidate']) {
        assert.deepEqual((await worker().post(p).query({ session_id: a.session_id }).expect(422)).body, MISSING);
      }
      assert.deepEqual((await worker().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 60 }).expect(422)).body, MISSING);
      // both problems in one answer, as pydantic reports them
      const both = (await worker().post('/release').expect(422)).body as { detail: Array<{ loc: string[] }> };
      assert.deepEqual(both.detail.map((d) => d.loc[1]).sort(), ['lease_token', 'session_id']);
      const b = await lease();
      for (const p of ['/release', '/invalidate']) await worker().post(p).query({ session_id: a.session_id, lease_token: b.lease_token }).expect(409);
      await worker().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 60, lease_token: b.lease_token }).expect(409);
      assert.equal(await stateOf(a.session_id), 'in_use');
    });

    it('with admin keys, next=true needs the worker\'s lease token too: 422 without, 409 with another, nothing issued', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      const a = await lease();
      const b = await lease();
      assert.deepEqual((await worker().post('/release').query({ session_id: a.session_id, next: true }).expect(422)).body, MISSING);
      await worker().post('/release').query({ session_id: a.session_id, lease_token: b.lease_token, next: true }).expect(409);
      await worker().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 60, lease_token: b.lease_token, next: true }).expect(409);
      assert.equal(await stateOf(a.session_id), 'in_use');
      const st = (await admin().get('/status').expect(200)).body as { free: number };
      assert.equal(st.free, 1, 'nothing issued');
      const n = (await worker().post('/release').query({ session_id: a.session_id, lease_token: a.lease_token, next: true }).expect(200)).body;
      assert.equal(typeof n.lease_token, 'string');
    });

    it('with admin keys, a worker cannot put a free session it does not hold into a flood wait', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      const a = await lease();
      const free = (await admin().get('/sessions').query({ state: 'free' }).expect(200)).body as { sessions: Array<{ session_id: number }> };
      const victim = free.sessions[0]!.session_id;
      await worker().post('/floodwait').query({ session_id: victim, wait_seconds: 31_536_000 }).expect(422);
      await worker().post('/floodwait').query({ session_id: victim, wait_seconds: 31_536_000, lease_token: a.lease_token }).expect(409);
      assert.equal(await stateOf(victim), 'free');
    });

    it('with admin keys, a worker with its token releases, rests and invalidates; retries stay 200', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      const a = await lease();
      await worker().post('/release').query({ session_id: a.session_id, lease_token: a.lease_token }).expect(200);
      await worker().post('/release').query({ session_id: a.session_id, lease_token: a.lease_token }).expect(200); // a retry
      assert.equal(await stateOf(a.session_id), 'free');

      const b = await lease();
      const first = (await worker().post('/floodwait').query({ session_id: b.session_id, wait_seconds: 3600, lease_token: b.lease_token }).expect(200)).body;
      const retry = (await worker().post('/floodwait').query({ session_id: b.session_id, wait_seconds: 60, lease_token: b.lease_token }).expect(200)).body;
      assert.equal(retry.floodwait_until, first.floodwait_until, 'a retry never shortens the rest');
      assert.equal(retry.state, 'floodwait');

      const c = await lease();
      await worker().post('/invalidate').query({ session_id: c.session_id, reason: 'USER_DEACTIVATED_BAN', lease_token: c.lease_token }).expect(200);
      await worker().post('/invalidate').query({ session_id: c.session_id, lease_token: c.lease_token }).expect(200); // a retry
      assert.equal(await stateOf(c.session_id), 'invalidated');
    });

    it('with admin keys, admin keys keep the tokenless powers', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY });
      const a = await lease();
      await admin().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 60 }).expect(200);
      const b = await lease();
      await admin().post('/release').query({ session_id: b.session_id }).expect(200);
      await admin().post('/invalidate').query({ session_id: b.session_id }).expect(200);
      assert.deepEqual([await stateOf(a.session_id), await stateOf(b.session_id)], ['floodwait', 'invalidated']);
    });

    it('TELEGATE_REQUIRE_LEASE_TOKEN: release and flood wait need the token from every key; admins still invalidate and restore without', async () => {
      await start({ TELEGATE_ADMIN_KEYS: ADMIN_KEY, TELEGATE_REQUIRE_LEASE_TOKEN: 'true' });
      const a = await lease();
      for (const who of [worker(), admin()]) {
        assert.deepEqual((await who.post('/release').query({ session_id: a.session_id }).expect(422)).body, MISSING);
      }
      assert.deepEqual((await admin().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 5 }).expect(422)).body, MISSING);
      await admin().post('/release').query({ session_id: a.session_id, lease_token: a.lease_token }).expect(200);
      const b = await lease();
      await admin().post('/invalidate').query({ session_id: b.session_id }).expect(200);
      await admin().post('/restore').query({ session_id: b.session_id }).expect(200);
      assert.equal(await stateOf(b.session_id), 'free');
    });

    it('TELEGATE_REQUIRE_LEASE_TOKEN without admin keys: every key needs the token to release or rest', async () => {
      await start({ TELEGATE_REQUIRE_LEASE_TOKEN: 'true' });
      const a = await lease();
      assert.deepEqual((await worker().post('/release').query({ session_id: a.session_id }).expect(422)).body, MISSING);
      await worker().post('/floodwait').query({ session_id: a.session_id, wait_seconds: 5 }).expect(422);
      await worker().post('/invalidate').query({ session_id: a.session_id }).expect(200); // every key is an admin here
      await worker().post('/restore').query({ session_id: a.session_id }).expect(200);
    });
  });
}
