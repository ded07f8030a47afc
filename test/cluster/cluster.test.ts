/**
 * Several real replicas (node dist/main.js) on one real redis-server: the
 * service never issues one session to two holders, under load, across
 * replicas, and through crashes of replicas, of the leader and of Redis.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { makeKeys, sessionField } from '../../src/pool/keys';
import { until } from '../../support/poll';
import { RedisServer, testClient } from '../../support/redis';
import { Replica, stopReplicas } from '../../support/replica';
import { addSession, makeDir } from '../../support/sessions';

const KEY = 'cluster-test-key-0123456789';
const keys = makeKeys('telegate');

interface Lease {
  session_id: number;
  session_name: string;
  lease_token: string;
}

describe('cluster: several replicas on one Redis', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let client: Redis;
  let dir: string;
  let replicas: Replica[] = [];

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL: redis.url,
    TELEGATE_API_KEYS: KEY,
    TELEGATE_SESSIONS_DIR: dir,
    TELEGATE_LEADER_TTL_MS: '1500',
    TELEGATE_REAPER_INTERVAL_MS: '200',
    TELEGATE_SYNC_CRON: '*/1 * * * * *',
    TELEGATE_RATE_LIMIT: '0',
    ...extra,
  });

  async function startReplicas(n: number, extra: Record<string, string> = {}): Promise<Replica[]> {
    const started = await Promise.all(Array.from({ length: n }, () => Replica.start(env(extra))));
    replicas.push(...started);
    return started;
  }

  async function status(r: Replica): Promise<{ total: number; free: number; in_use: number; in_floodwait: number }> {
    const res = await r.fetch('/status', { key: KEY });
    assert.equal(res.status, 200);
    return (await res.json()) as { total: number; free: number; in_use: number; in_floodwait: number };
  }

  /** The leader's start-up sync has registered n sessions (generous deadline: replicas boot under load). */
  async function synced(r: Replica, n: number): Promise<void> {
    await until(async () => (await status(r)).total === n, `start-up sync of ${n} sessions`, 20_000);
  }

  /** Until r's own count of parked long-polls (telegate_longpoll_waiting on its /metrics) is n. */
  async function parked(r: Replica, n: number): Promise<void> {
    const gauge = new RegExp(`^telegate_longpoll_waiting ${n}$`, 'm');
    await until(async () => gauge.test(await (await r.fetch('/metrics', { key: KEY })).text()), `${n} request(s) parked on the replica`, 10_000);
  }

  async function acquire(r: Replica, query = ''): Promise<{ status: number; body: Lease & { detail?: unknown } }> {
    const res = await r.fetch(`/session${query}`, { key: KEY });
    return { status: res.status, body: (await res.json()) as Lease & { detail?: unknown } };
  }

  async function post(r: Replica, p: string, body: Record<string, unknown>): Promise<Response> {
    return r.fetch(p, { key: KEY, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  }

  async function leaderPid(): Promise<number | null> {
    const v = await client.get(keys.leader);
    const m = v ? /-(\d+)-[0-9a-f]+$/.exec(v) : null;
    return m?.[1] ? Number(m[1]) : null;
  }

  beforeEach(async () => {
    redis = await RedisServer.start({ appendonly: true });
    client = await testClient(redis.url);
    replicas = [];
  });

  afterEach(async function () {
    await stopReplicas(replicas, this.currentTest?.state === 'failed');
    client.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('3 replicas under concurrent load for 10 s: zero double issues, the invariant at every sample', async () => {
    dir = makeDir(20);
    const rs = await startReplicas(3);
    await synced(rs[0]!, 20);

    const held = new Map<number, number>(); // session id -> client id
    let doubles = 0;
    let cycles = 0;
    let floodwaits = 0;
    let samples = 0;
    const violations: string[] = [];
    const stopAt = Date.now() + 10_000;
    let rr = 0;
    const next = (): Replica => rs[rr++ % rs.length]!;

    const worker = async (id: number): Promise<void> => {
      while (Date.now() < stopAt) {
        const r = await acquire(next());
        if (r.status === 503) continue;
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const s = r.body;
        if (held.has(s.session_id)) doubles++;
        held.set(s.session_id, id);
        await new Promise((res) => setTimeout(res, Math.random() * 15));
        held.delete(s.session_id); // before the release is sent: from here another holder is legitimate
        if (Math.random() < 0.1) {
          floodwaits++;
          assert.equal((await post(next(), '/floodwait', { session_id: s.session_id, wait_seconds: 1, lease_token: s.lease_token })).status, 200);
        } else {
          assert.equal((await post(next(), '/release', { session_id: s.session_id, lease_token: s.lease_token })).status, 200);
        }
        cycles++;
      }
    };
    const sampler = async (): Promise<void> => {
      while (Date.now() < stopAt) {
        const s = await status(next());
        samples++;
        if (s.total !== s.free + s.in_use + s.in_floodwait || s.total !== 20) violations.push(JSON.stringify(s));
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    await Promise.all([...Array.from({ length: 30 }, (_, i) => worker(i)), sampler()]);

    assert.equal(doubles, 0, 'a session was held by two clients at once');
    assert.deepEqual(violations, []);
    // Proof that the test did real work (not a rate: the machine may be loaded).
    assert.ok(cycles > 200, `only ${cycles} cycles`);
    assert.ok(floodwaits > 5, `only ${floodwaits} flood waits`);
    assert.ok(samples > 20, `only ${samples} status samples`);
  });

  it('2 replicas, scoped acquires with tags and reports under load: never a double issue, never against a known rest or a missing tag', async () => {
    const N = 60;
    dir = makeDir(N);
    // Tags from sidecars: even sessions "premium", every third "ru" (every sixth both), the rest none.
    const tagsOf = new Map<string, string[]>();
    for (let i = 0; i < N; i++) {
      const name = `acc${String(i).padStart(3, '0')}`;
      const tags = [...(i % 2 === 0 ? ['premium'] : []), ...(i % 3 === 0 ? ['ru'] : [])];
      tagsOf.set(name, tags);
      if (tags.length > 0) writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ tags }));
    }
    const rs = await startReplicas(2);
    await synced(rs[0]!, N);

    // Mixed case on purpose: scopes compare case-insensitively, rests are tracked lowercased.
    const SCOPES = ['messages.sendMessage', 'contacts.resolveUsername', 'channels.joinChannel', 'users.getFullUser'];
    const TAG_SETS = [['premium'], ['RU'], ['premium', 'ru']];
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
    // Acknowledged rests, client-side: session id -> scope -> [known from, known until). "from" is when the
    // acknowledgement arrived (the rest started before), "until" the answer's deadline (whole seconds, cut
    // down: the rest runs at least that long), so an issue inside the interval is a violation for sure.
    const rests = new Map<number, { scope: string; from: number; until: number }[]>();
    const held = new Map<number, number>(); // session id -> worker id
    const bad: string[] = [];
    const count = { cycles: 0, reports: 0, scopedFloodwaits: 0, releases: 0, tagged: 0, contested: 0, unavailable: 0 };
    const stopAt = Date.now() + 12_000;
    let rr = 0;
    const next = (): Replica => rs[rr++ % rs.length]!;
    const untilMs = (utc: unknown): number => Date.parse(`${String(utc).replace(' ', 'T')}Z`);
    const rested = (id: number, scope: string, from: number, until: number): void => {
      assert.ok(Number.isFinite(until), `rest deadline of ${id}`);
      const list = rests.get(id) ?? [];
      list.push({ scope, from, until });
      rests.set(id, list);
    };

    const worker = async (w: number): Promise<void> => {
      while (Date.now() < stopAt) {
        const asked = SCOPES.filter(() => Math.random() < 0.4);
        const askedLower = asked.map((x) => x.toLowerCase());
        const tags = Math.random() < 0.3 ? pick(TAG_SETS) : [];
        const q = new URLSearchParams([...asked.map((x): [string, string] => ['scope', x]), ...tags.map((t): [string, string] => ['tag', t]), ['wait', '1']]);
        const sent = Date.now();
        // Proof the exclusion was exercised: some session was known resting on an asked scope when asking.
        if ([...rests.values()].some((l) => l.some((r) => askedLower.includes(r.scope) && r.from <= sent && sent < r.until))) count.contested++;
        const got = await acquire(next(), `?${q.toString()}`);
        const received = Date.now();
        if (got.status === 503) {
          count.unavailable++;
          continue;
        }
        assert.equal(got.status, 200, JSON.stringify(got.body));
        const s = got.body;
        if (tags.length > 0) count.tagged++;
        const holder = held.get(s.session_id);
        if (holder !== undefined) bad.push(`double issue: ${s.session_id} to workers ${holder} and ${w}`);
        held.set(s.session_id, w);
        // Unscoped (nothing asked) must see no rest at all; scoped, none on an asked scope.
        for (const r of rests.get(s.session_id) ?? []) {
          const hit = asked.length === 0 || askedLower.includes(r.scope);
          if (hit && r.from <= sent && received < r.until) bad.push(`${s.session_id} issued for [${asked.join(',')}] while resting on ${r.scope} until ${new Date(r.until).toISOString()}`);
        }
        const have = tagsOf.get(s.session_name) ?? [];
        for (const t of tags) if (!have.includes(t.toLowerCase())) bad.push(`${s.session_name} [${have.join(',')}] issued for tag ${t}`);
        await new Promise((res) => setTimeout(res, Math.random() * 10)); // the "work" while holding
        held.delete(s.session_id); // before the give-back is sent: from here another holder is legitimate
        const roll = Math.random();
        const scope = pick(SCOPES);
        const n = 1 + Math.floor(Math.random() * 3);
        const before = Date.now();
        if (roll < 0.35) {
          const res = await post(next(), '/report', { session_id: s.session_id, error: `FLOOD_WAIT_${n}`, method: scope, lease_token: s.lease_token });
          const body = (await res.json()) as { action?: string; scope?: string; until?: string };
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.equal(body.action, 'rest');
          assert.equal(body.scope, scope.toLowerCase());
          rested(s.session_id, scope.toLowerCase(), Date.now(), Math.min(untilMs(body.until), before + n * 1000));
          count.reports++;
        } else if (roll < 0.55) {
          const res = await post(next(), '/floodwait', { session_id: s.session_id, wait_seconds: n, scope, lease_token: s.lease_token });
          const body = (await res.json()) as { scope?: string; floodwait_until?: string };
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.equal(body.scope, scope.toLowerCase());
          rested(s.session_id, scope.toLowerCase(), Date.now(), Math.min(untilMs(body.floodwait_until), before + n * 1000));
          count.scopedFloodwaits++;
        } else {
          assert.equal((await post(next(), '/release', { session_id: s.session_id, lease_token: s.lease_token })).status, 200);
          count.releases++;
        }
        count.cycles++;
      }
    };
    await Promise.all(Array.from({ length: 7 }, (_, i) => worker(i)));

    assert.deepEqual(bad, []);
    // Proof that the test did real work (counts, not rates: the machine may be loaded).
    assert.ok(count.cycles > 150, JSON.stringify(count));
    assert.ok(count.reports > 30 && count.scopedFloodwaits > 15 && count.releases > 30, JSON.stringify(count));
    assert.ok(count.tagged > 30, JSON.stringify(count));
    assert.ok(count.contested > 50, JSON.stringify(count));
    // The pool invariant afterwards, and every rest (at most 3 s) ends by itself.
    const after = await status(rs[1]!);
    assert.equal(after.total, N);
    assert.equal(after.total, after.free + after.in_use + after.in_floodwait, JSON.stringify(after));
    assert.equal(after.in_use, 0, JSON.stringify(after));
    await until(async () => (await status(next())).free === N, 'every scoped rest to end', 15_000);
  });

  it('kill -9 of the leader: another replica leads within the lock TTL and runs the scheduled sync', async () => {
    dir = makeDir(3);
    await startReplicas(3);
    const pid = await until(() => leaderPid(), 'a leader');
    const leader = replicas.find((r) => r.pid === pid);
    assert.ok(leader, 'the leader is one of the replicas');
    await leader.kill('SIGKILL');
    const killedAt = Date.now();
    const newPid = await until(async () => {
      const p = await leaderPid();
      return p !== null && p !== pid ? p : null;
    }, 'a new leader', 10_000);
    // The lock lapses at most one TTL (1500 ms) after its last renewal; another replica's
    // next attempt (every TTL/3) takes it. 1 s more is slack for a loaded machine.
    const takeover = Date.now() - killedAt;
    assert.ok(takeover < 1500 + 500 + 1000, `new leader after ${takeover} ms`);
    assert.ok(replicas.some((r) => r.pid === newPid && r.alive));
    // The new leader's cron sync (every second) picks up a new file with no manual /sync.
    addSession(dir, 'newcomer');
    const survivor = replicas.find((r) => r.alive)!;
    await until(async () => (await status(survivor)).total === 4, 'scheduled sync on the new leader', 10_000);
  });

  it('kill -9 of a replica holding leases: they come back after their TTL, never earlier', async () => {
    dir = makeDir(3);
    const ttlMs = 3000;
    const [a, b] = await startReplicas(2, { TELEGATE_LEASE_TTL_SECONDS: String(ttlMs / 1000) });
    await synced(a!, 3);
    const leasedAt = Date.now(); // every lease below expires at leasedAt + ttl or later
    for (let i = 0; i < 3; i++) assert.equal((await acquire(a!)).status, 200);
    await a!.kill('SIGKILL');
    // Until the TTL, all three stay leased. A sample counts only if its whole
    // round trip ended before the earliest possible expiry (load cannot fake a pass or a failure).
    let conclusiveLate = 0;
    while (Date.now() - leasedAt < ttlMs - 300) {
      const s = await status(b!);
      const endedAt = Date.now() - leasedAt;
      if (endedAt >= ttlMs) break;
      assert.equal(s.in_use, 3, `a lease came back ${endedAt} ms after leasing, before its ${ttlMs} ms TTL`);
      if (endedAt > ttlMs / 2) conclusiveLate++;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(conclusiveLate > 0, 'sampled the second half of the TTL');
    await until(async () => (await status(b!)).free === 3, 'leases to expire', 10_000);
    assert.ok(Date.now() - leasedAt >= ttlMs, 'free only after the TTL');
    assert.equal((await acquire(b!)).status, 200);
  });

  it('long-poll: a waiter on replica A is served by a release on replica B in well under a second', async () => {
    dir = makeDir(1);
    const [a, b] = await startReplicas(2);
    await synced(a!, 1);
    const held = await acquire(b!);
    assert.equal(held.status, 200);
    const waiting = acquire(a!, '?wait=20');
    // The waiter must be parked on A before the release on B (else this tests a plain acquire).
    await parked(a!, 1);
    const releasedAt = Date.now();
    assert.equal((await post(b!, '/release', { session_id: held.body.session_id, lease_token: held.body.lease_token })).status, 200);
    const served = await waiting;
    const latency = Date.now() - releasedAt;
    assert.equal(served.status, 200);
    assert.equal(served.body.session_id, held.body.session_id);
    assert.ok(latency < 1000, `served ${latency} ms after the release`);
  });

  it('SIGTERM: parked requests are answered, leadership is given up, exit 0', async () => {
    dir = makeDir(1);
    const [a] = await startReplicas(1);
    await synced(a!, 1);
    assert.equal((await acquire(a!)).status, 200);
    await until(async () => (await leaderPid()) === a!.pid, 'a to lead');
    const waiter = acquire(a!, '?wait=30');
    await parked(a!, 1); // SIGTERM must answer a parked request, not one still on its first acquire
    const t0 = Date.now();
    const code = a!.kill('SIGTERM');
    const r = await waiter;
    assert.equal(r.status, 503);
    assert.deepEqual((r.body.detail as { error: string }).error, 'no_free_session');
    assert.equal(await code, 0);
    assert.ok(Date.now() - t0 < 5000, 'shutdown is prompt');
    assert.equal(await client.get(keys.leader), null, 'leadership released on SIGTERM');
  });

  it('Redis down: 503 store_unavailable within 2 s, readiness fails, liveness holds; back by itself after restart and SCRIPT FLUSH', async () => {
    dir = makeDir(2);
    const [a] = await startReplicas(1);
    await synced(a!, 2);
    await redis.kill('SIGKILL');
    for (const [method, p] of [['GET', '/status'], ['GET', '/session'], ['POST', '/release?session_id=1'], ['POST', '/floodwait?session_id=1&wait_seconds=1'], ['POST', '/sync']]) {
      const t0 = Date.now();
      const res = await a!.fetch(p!, { key: KEY, method });
      assert.equal(res.status, 503, `${method} ${p}`);
      assert.deepEqual(await res.json(), { detail: { error: 'store_unavailable' } });
      assert.ok(Date.now() - t0 < 2000, `${p} answered in ${Date.now() - t0} ms`);
    }
    assert.equal((await a!.fetch('/readyz')).status, 503);
    assert.equal((await a!.fetch('/healthz')).status, 200);
    await redis.spawn();
    await until(async () => (await a!.fetch('/readyz')).status === 200, 'readiness after Redis restart', 10_000);
    const c2 = await testClient(redis.url);
    await c2.script('FLUSH');
    c2.disconnect();
    const got = await acquire(a!);
    assert.equal(got.status, 200, 'scripts re-registered after SCRIPT FLUSH');
    assert.equal((await status(a!)).in_use, 1);
    assert.ok(a!.alive);
  });

  it('Redis restarted (AOF) during load: no acknowledged release, flood wait or invalidation is lost; only 503s in the gap', async () => {
    // A fifth of the cycles take their session out for good (invalidate, an hour's flood wait), and a release
    // refused in the gap leaves its lease until the TTL: 30 sessions ran dry before the load could resume
    // (a flake on loaded machines). 150 leave room for several hundred cycles.
    dir = makeDir(150);
    const rs = await startReplicas(2);
    await synced(rs[0]!, 150);
    const acked = { released: [] as Lease[], flooded: [] as number[], invalidated: [] as number[] };
    const wrong: string[] = [];
    const held = new Set<number>();
    let doubles = 0;
    let unavailable = 0;
    let stop = false;
    let rr = 0;
    const next = (): Replica => rs[rr++ % rs.length]!;
    const ok = (res: Response | null, what: string): boolean => {
      if (res === null) return false;
      if (res.status === 503) {
        unavailable++;
        return false;
      }
      if (res.status !== 200) wrong.push(`${what}: ${res.status}`);
      return res.status === 200;
    };
    const worker = async (i: number): Promise<void> => {
      while (!stop) {
        const r = await acquire(next()).catch(() => null);
        if (!r || r.status === 503) {
          if (r) unavailable++;
          await new Promise((res) => setTimeout(res, 20));
          continue;
        }
        if (r.status !== 200) {
          wrong.push(`acquire ${r.status}`);
          continue;
        }
        const s = r.body;
        if (held.has(s.session_id)) doubles++;
        held.add(s.session_id);
        held.delete(s.session_id);
        const roll = (i + s.session_id) % 10;
        if (roll === 0) {
          const res = await post(next(), '/invalidate', { session_id: s.session_id }).catch(() => null);
          if (ok(res, 'invalidate')) acked.invalidated.push(s.session_id);
        } else if (roll === 1) {
          const res = await post(next(), '/floodwait', { session_id: s.session_id, wait_seconds: 3600, lease_token: s.lease_token }).catch(() => null);
          if (ok(res, 'floodwait')) acked.flooded.push(s.session_id);
        } else {
          const res = await post(next(), '/release', { session_id: s.session_id, lease_token: s.lease_token }).catch(() => null);
          if (ok(res, 'release')) acked.released.push(s);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, i) => worker(i)));
    await until(() => acked.released.length > 50, 'load to run');
    await redis.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500)); // the gap: clients keep going and must only see 503s
    await redis.spawn();
    await until(async () => (await rs[0]!.fetch('/readyz')).status === 200, 'replicas ready again', 10_000);
    const before = acked.released.length;
    await until(() => acked.released.length > before + 30, 'load to resume after the restart', 30_000);
    stop = true;
    await load;

    assert.deepEqual(wrong, []);
    assert.equal(doubles, 0);
    assert.ok(unavailable > 0, 'the gap was observed as 503s');
    const c = await testClient(redis.url);
    try {
      for (const id of acked.invalidated) assert.notEqual(await c.zscore(keys.invalid, String(id)), null, `invalidation of ${id} lost`);
      for (const id of acked.flooded) {
        const inFlood = (await c.zscore(keys.flood, String(id))) !== null;
        const inInvalid = (await c.zscore(keys.invalid, String(id))) !== null;
        assert.ok(inFlood || inInvalid, `flood wait of ${id} lost`);
      }
      // A lost release would leave the session leased under the token that was released.
      for (const s of acked.released) {
        const leased = (await c.zscore(keys.leased, String(s.session_id))) !== null;
        const token = await c.hget(keys.session(s.session_id), sessionField.token(s.session_id));
        assert.ok(!(leased && token === s.lease_token), `release of ${s.session_id} lost`);
      }
    } finally {
      c.disconnect();
    }
  });
});
