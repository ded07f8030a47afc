/**
 * Exclusivity through a Redis failover, with real processes: two TeleGate
 * replicas (node dist/main.js) on a Sentinel-managed master + replica with
 * TELEGATE_REDIS_WAIT_REPLICAS=1, the master killed with SIGKILL under
 * cycling load; and the same load on a three-master Redis Cluster.
 *
 * What clients saw is tracked client-side: a session answered to one client
 * while another holds it is a double issue; an acknowledged flood wait must
 * keep its session out of circulation; an acknowledged release must not leave
 * the session leased under the released token.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type Redis from 'ioredis';
import { makeKeys, sessionField } from '../../src/pool/keys';
import { RedisClusterSet, SentinelSet, replicasOnline } from '../../support/ha';
import { until } from '../../support/poll';
import { testClient } from '../../support/redis';
import { Replica } from '../../support/replica';
import { makeDir } from '../../support/sessions';

const KEY = 'failover-test-key-0123456789';
const keys = makeKeys('telegate');
const SESSIONS = 24;
/** Long flood waits (an hour) per run: each keeps one session out of circulation to the end. */
const MAX_FLOODS = 5;

interface Lease {
  session_id: number;
  lease_token: string;
}

interface Load {
  cycles: number;
  doubles: string[];
  /** Sessions issued while an acknowledged flood wait on them was running. */
  floodBreaches: string[];
  ackedFloods: Set<number>;
  releasedTokens: Set<string>;
  unavailable: number;
  /** Slowest answer (ms) of a request that did not long-poll. */
  slowestMs: number;
  firstOutageAt: number | null;
  lastOutageAt: number | null;
  unexpected: string[];
}

function newLoad(): Load {
  return {
    cycles: 0,
    doubles: [],
    floodBreaches: [],
    ackedFloods: new Set(),
    releasedTokens: new Set(),
    unavailable: 0,
    slowestMs: 0,
    firstOutageAt: null,
    lastOutageAt: null,
    unexpected: [],
  };
}

async function call(load: Load, r: Replica, p: string, body?: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }> {
  const started = Date.now();
  let status = 0;
  let json: Record<string, unknown> = {};
  try {
    const res = await r.fetch(p, body ? { key: KEY, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : { key: KEY });
    status = res.status;
    json = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    load.unexpected.push(`${p}: ${(err as Error).message}`);
  }
  load.slowestMs = Math.max(load.slowestMs, Date.now() - started);
  const error = (json.detail as { error?: string } | undefined)?.error;
  if (status === 503 && error === 'store_unavailable') {
    load.unavailable++;
    load.firstOutageAt ??= started;
    load.lastOutageAt = Date.now();
  } else if ((status >= 500 && !(status === 503 && error === 'no_free_session')) || status === 0) {
    load.unexpected.push(`${p}: ${status} ${JSON.stringify(json)}`);
  }
  return { status, json };
}

/** Let the event loop breathe between 503s (load pacing, not synchronisation). */
const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Clients cycling acquire → hold → release / flood wait across the replicas
 * until `running()` turns false; every lease is given back before a client stops.
 */
async function cycling(replicas: Replica[], clients: number, running: () => boolean, load: Load): Promise<void> {
  const held = new Map<number, number>(); // session id -> client holding it (answer received, give-back not yet sent)
  let rr = 0;
  const next = (): Replica => replicas[rr++ % replicas.length]!;
  let floods = 0;

  const client = async (me: number): Promise<void> => {
    while (running()) {
      const got = await call(load, next(), '/session');
      if (got.status !== 200) {
        await pause(got.status === 503 ? 50 : 10);
        continue;
      }
      const lease = got.json as unknown as Lease;
      const id = lease.session_id;
      if (held.has(id)) load.doubles.push(`session ${id} issued to client ${me} while client ${String(held.get(id))} holds it`);
      if (load.ackedFloods.has(id)) load.floodBreaches.push(`session ${id} issued during its acknowledged flood wait`);
      held.set(id, me);
      await pause(Math.random() * 30);
      const flood = floods < MAX_FLOODS && Math.random() < 0.05;
      if (flood) floods++;
      // From here the give-back may take effect at any moment: another holder is legitimate.
      held.delete(id);
      // Retry until a definite answer: 200, or 409 (the lease already moved on: our give-back happened).
      for (;;) {
        const res = flood
          ? await call(load, next(), '/floodwait', { session_id: id, wait_seconds: 3600, lease_token: lease.lease_token })
          : await call(load, next(), '/release', { session_id: id, lease_token: lease.lease_token });
        if (res.status === 200) {
          if (flood) load.ackedFloods.add(id);
          else load.releasedTokens.add(lease.lease_token);
          break;
        }
        if (res.status === 409 || res.status === 404) break;
        await pause(50);
      }
      load.cycles++;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
}

/** The pool as the store holds it, checked against what the clients were told. */
async function checkStore(redis: Redis, load: Load): Promise<void> {
  const [free, leased, flood, invalid] = await Promise.all([keys.free, keys.leased, keys.flood, keys.invalid].map((k) => redis.zrange(k, '0', '-1')));
  const all = [...free!, ...leased!, ...flood!, ...invalid!];
  assert.equal(all.length, SESSIONS, `every session in exactly one state set: ${JSON.stringify({ free, leased, flood, invalid })}`);
  assert.equal(new Set(all).size, SESSIONS, 'a session is in two state sets');
  for (const id of load.ackedFloods) assert.ok(flood!.includes(String(id)), `acknowledged flood wait of session ${id} was lost`);
  for (const id of leased!) {
    const token = await redis.hget(keys.session(Number(id)), sessionField.token(id));
    assert.ok(token === null || !load.releasedTokens.has(token), `acknowledged release of session ${id} was lost`);
  }
}

async function poolStatus(r: Replica): Promise<{ total: number; free: number; in_use: number; in_floodwait: number }> {
  const res = await r.fetch('/status', { key: KEY });
  assert.equal(res.status, 200);
  return (await res.json()) as { total: number; free: number; in_use: number; in_floodwait: number };
}

function assertClean(load: Load): void {
  assert.deepEqual(load.doubles, [], 'double issues');
  assert.deepEqual(load.floodBreaches, [], 'acknowledged flood waits lost');
  assert.deepEqual(load.unexpected, [], 'answers other than success, 4xx or 503 store_unavailable');
}

/** Processes one test started; afterEach kills them (and shows the replicas' output when it failed). */
interface Fixture {
  set?: { stop(): Promise<void> };
  /** Stops the test's cycling clients: a failed wait must not leave them running (their timers keep mocha alive). */
  stopLoad?: () => Promise<void>;
  replicas: Replica[];
  dir: string;
}

function fixture(): Fixture {
  const f: Fixture = { replicas: [], dir: '' };
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') for (const r of f.replicas) console.error(`--- replica ${r.port} output:\n${r.output.slice(-3000)}`);
    await f.stopLoad?.();
    f.stopLoad = undefined;
    await Promise.all(f.replicas.map((r) => r.kill('SIGKILL')));
    await f.set?.stop();
    rmSync(f.dir, { recursive: true, force: true });
    f.replicas = [];
  });
  return f;
}

/** Two TeleGate replicas on `redisEnv` serving a fresh directory of SESSIONS files, synced. */
async function startTeleGate(f: Fixture, redisEnv: Record<string, string>): Promise<Replica[]> {
  f.dir = makeDir(SESSIONS);
  const env = {
    TELEGATE_API_KEYS: KEY,
    TELEGATE_SESSIONS_DIR: f.dir,
    TELEGATE_LEADER_TTL_MS: '1500',
    TELEGATE_REAPER_INTERVAL_MS: '200',
    TELEGATE_SYNC_CRON: '*/2 * * * * *',
    TELEGATE_RATE_LIMIT: '0',
    ...redisEnv,
  };
  f.replicas = await Promise.all([Replica.start(env), Replica.start(env)]);
  await until(async () => (await poolStatus(f.replicas[0]!)).total === SESSIONS, 'the start-up sync', 20_000);
  return f.replicas;
}

describe('failover: Redis Sentinel, master killed under load (WAIT 1)', function () {
  this.timeout(120_000);
  const f = fixture();

  it('zero double issues, zero acknowledged changes lost, service back by itself', async () => {
    const set = await SentinelSet.start();
    f.set = set;
    const replicas = await startTeleGate(f, { REDIS_SENTINELS: set.env, TELEGATE_REDIS_WAIT_REPLICAS: '1' });

    const load = newLoad();
    let stop = false;
    const running = cycling(replicas, 6, () => !stop, load);
    f.stopLoad = async () => {
      stop = true;
      await running;
    };

    // Some work before the crash, then kill -9 the master.
    await until(() => load.cycles >= 50, '50 cycles before the crash', 20_000);
    const cyclesBefore = load.cycles;
    const inUseBefore = (await poolStatus(replicas[0]!)).in_use;
    const killedAt = Date.now();
    await set.master.kill('SIGKILL');
    // Sentinel promotes the replica (down-after 1 s + election); then the old master
    // comes back as a replica of the new one (as Kubernetes would restart it).
    await until(async () => (await set.masterPort()) === set.replica.port, 'Sentinel to promote the replica', 30_000);
    const promotedAt = Date.now();
    await set.restartAsReplica();
    await replicasOnline(set.replica.url, 1, 60_000); // a full resync: slow on a loaded machine
    // Service is back when cycles complete again, with no restart of TeleGate.
    await until(() => load.cycles >= cyclesBefore + 50 && load.lastOutageAt !== null && Date.now() - load.lastOutageAt > 1000, 'cycles after the failover', 30_000);
    const backAt = Date.now();
    stop = true;
    await running;

    assertClean(load);
    assert.ok(load.unavailable > 0, 'the crash was seen by clients (503s), or the test proved nothing');
    assert.ok(load.firstOutageAt !== null && load.firstOutageAt >= killedAt - 2000, 'no outage before the crash');
    // Every request answered quickly even mid-switch (2 s budget; slack for a loaded machine).
    assert.ok(load.slowestMs < 4000, `slowest answer ${load.slowestMs} ms`);
    assert.ok(backAt - promotedAt < 30_000, `service back ${backAt - promotedAt} ms after the promotion`);
    console.log(
      `      failover: promoted after ${promotedAt - killedAt} ms; 503s from +${load.firstOutageAt - killedAt} to +${load.lastOutageAt! - killedAt} ms; ` +
        `${load.unavailable} 503s; slowest answer ${load.slowestMs} ms; ${load.cycles} cycles, ${load.ackedFloods.size} flood waits; ` +
        `in use: ${inUseBefore} before the crash (held by the cycling clients), ${(await poolStatus(replicas[1]!)).in_use} after they stopped (a lease to nobody would show here)`,
    );

    // The pool afterwards, through the API and in the new master.
    const s = await poolStatus(replicas[1]!);
    assert.equal(s.total, s.free + s.in_use + s.in_floodwait);
    assert.equal(s.total, SESSIONS);
    const master = await testClient((await set.currentMaster()).url);
    try {
      await checkStore(master, load);
      // Both replicas' long-poll subscribers followed the master.
      await until(async () => {
        const r = (await master.call('PUBSUB', 'NUMSUB', keys.freedChannel)) as [string, number];
        return Number(r[1]) >= 2;
      }, 'both subscribers on the new master', 15_000);
      // Leadership moved with the master: one replica holds the lock there.
      await until(() => master.get(keys.leader), 'a leader on the new master', 15_000);
    } finally {
      master.disconnect();
    }
  });
});

describe('Redis Cluster: three masters, cycling load on two replicas', function () {
  this.timeout(120_000);
  const f = fixture();

  it('every script runs on the hash tag shard; pub/sub and sync work; zero double issues', async () => {
    const set = await RedisClusterSet.start();
    f.set = set;
    const replicas = await startTeleGate(f, { REDIS_CLUSTER_NODES: set.env, TELEGATE_RATE_LIMIT: '60000' }); // the limiter's script runs there too

    const load = newLoad();
    let stop = false;
    const running = cycling(replicas, 6, () => !stop, load);
    f.stopLoad = async () => {
      stop = true;
      await running;
    };
    await until(() => load.cycles >= 300, '300 cycles', 60_000);
    stop = true;
    await running;

    assertClean(load);
    assert.equal(load.unavailable, 0, 'no 503s on a healthy cluster');
    const s = await poolStatus(replicas[1]!);
    assert.deepEqual([s.total, s.total === s.free + s.in_use + s.in_floodwait], [SESSIONS, true]);

    // The shard owning {telegate} holds the pool; every node could be asked (the client follows MOVED).
    const owner = await testClient(set.nodes[0]!.url);
    let shard: Redis | undefined;
    try {
      const slot = Number(await owner.call('CLUSTER', 'KEYSLOT', keys.free));
      for (const n of set.nodes) {
        const c = await testClient(n.url);
        const mine = Number(await c.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0;
        if (mine) shard = c;
        else c.disconnect();
      }
      assert.ok(shard, 'one shard holds the pool keys');
      await checkStore(shard, load);
      // Both long-poll subscribers are subscribed somewhere in the cluster (PUBLISH reaches every node).
      let subscribers = 0;
      for (const n of set.nodes) {
        const c = await testClient(n.url);
        subscribers += Number(((await c.call('PUBSUB', 'NUMSUB', keys.freedChannel)) as [string, number])[1]);
        c.disconnect();
      }
      assert.ok(subscribers >= 2, `${subscribers} subscribers`);
    } finally {
      owner.disconnect();
      shard?.disconnect();
    }
  });
});
