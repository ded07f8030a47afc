import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';
import { parseProxyUrl } from '../src/sessionfiles';
import { until } from '../support/poll';
import { MAIN, Replica } from '../support/replica';

const KEY = 'config-test-key-0123456789';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, parseProxyUrl);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({ TELEGATE_API_KEYS: KEY }, parseProxyUrl);
    assert.deepEqual(
      [c.port, c.redisUrl, c.sessionsDir, c.leaseTtlMs, c.syncCron, c.defaultProxy, c.keyPrefix, c.logLevel, c.rateLimit, c.trustProxy],
      [8000, null, './sessions', 10_800_000, '0 * * * *', null, 'telegate', 'info', 60000, 0],
    );
    assert.deepEqual(c.apiKeys, [KEY]);
    assert.equal(c.restrictedRestSeconds, 86_400);
  });

  it('refuses to start without API keys', () => {
    assert.equal(configError({}).variable, 'TELEGATE_API_KEYS');
    assert.equal(configError({ TELEGATE_API_KEYS: ' , ,' }).variable, 'TELEGATE_API_KEYS');
  });

  it('reads keys from a file (one per line, comments allowed) and merges admin keys', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-keys-'));
    const file = path.join(dir, 'keys');
    writeFileSync(file, '# team keys\nkey-one-0123456789\n\nkey-two-0123456789\n');
    const c = loadConfig({ TELEGATE_API_KEYS_FILE: file, TELEGATE_ADMIN_KEYS: 'admin-0123456789' }, parseProxyUrl);
    assert.deepEqual(c.apiKeys, ['key-one-0123456789', 'key-two-0123456789', 'admin-0123456789']);
    assert.equal(configError({ TELEGATE_API_KEYS_FILE: path.join(dir, 'missing') }).variable, 'TELEGATE_API_KEYS_FILE');
  });

  const bad: Array<[string, string]> = [
    ['PORT', '70000'],
    ['PORT', 'eighty'],
    ['REDIS_URL', 'http://localhost:6379'],
    ['TELEGATE_LEASE_TTL_SECONDS', '0'],
    ['TELEGATE_SYNC_CRON', 'every hour'],
    ['TELEGATE_DEFAULT_PROXY', 'socks5://host-without-port'],
    ['TELEGATE_KEY_PREFIX', 'has}brace'],
    ['LOG_LEVEL', 'loud'],
    ['TELEGATE_SYNC_MAX_REMOVE_FRACTION', '1.5'],
    ['TELEGATE_EXPOSE_SESSION_STRING', 'maybe'],
    ['TELEGATE_RATE_LIMIT', '-1'],
    ['TELEGATE_RESTRICTED_REST_SECONDS', '1.5'],
    ['TELEGATE_REQUIRE_LEASE_TOKEN', 'maybe'],
    ['TELEGATE_RECOVERY_GRACE_SECONDS', '-5'],
  ];
  for (const [variable, value] of bad) {
    it(`names ${variable} when it is invalid ("${value}")`, () => {
      const e = configError({ TELEGATE_API_KEYS: KEY, [variable]: value });
      assert.equal(e.variable, variable);
      assert.ok(e.message.startsWith(`${variable}: `));
    });
  }

  it('holds issuing for 180 s after a Redis data loss by default; 0 disables the grace', () => {
    assert.equal(loadConfig({ TELEGATE_API_KEYS: KEY }, parseProxyUrl).recoveryGraceMs, 180_000);
    assert.equal(loadConfig({ TELEGATE_API_KEYS: KEY, TELEGATE_RECOVERY_GRACE_SECONDS: '0' }, parseProxyUrl).recoveryGraceMs, 0);
  });

  describe('Redis connection mode', () => {
    const load = (env: Record<string, string>) => loadConfig({ TELEGATE_API_KEYS: KEY, ...env }, parseProxyUrl);

    it('REDIS_URL alone is a standalone Redis; nothing is the embedded store; WAIT defaults to 0 / 500 ms', () => {
      assert.deepEqual(load({ REDIS_URL: 'redis://r:6379' }).redis, { mode: 'standalone', url: 'redis://r:6379' });
      const c = load({});
      assert.deepEqual([c.redis, c.redisWaitReplicas, c.redisWaitTimeoutMs], [null, 0, 500]);
    });

    it('REDIS_SENTINELS selects Sentinel (name mymaster by default); REDIS_URL then only brings credentials, TLS and db', () => {
      const c = load({ REDIS_SENTINELS: 's1:26379, s2,[::1]:5000', REDIS_SENTINEL_PASSWORD: 'sp', REDIS_URL: 'rediss://:pw@ignored/2' });
      assert.deepEqual(c.redis, {
        mode: 'sentinel',
        sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }, { host: '::1', port: 5000 }],
        name: 'mymaster',
        sentinelPassword: 'sp',
        url: 'rediss://:pw@ignored/2',
      });
      const named = load({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'pool-master', TELEGATE_REDIS_WAIT_REPLICAS: '1' });
      assert.equal(named.redis?.mode === 'sentinel' && named.redis.name, 'pool-master');
      assert.equal(named.redisWaitReplicas, 1);
    });

    it('REDIS_CLUSTER_NODES selects Cluster', () => {
      assert.deepEqual(load({ REDIS_CLUSTER_NODES: 'n1:7000,n2:7001' }).redis, {
        mode: 'cluster',
        nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }],
        url: null,
      });
    });

    const refused: Array<[Record<string, string>, string, RegExp]> = [
      [{ REDIS_SENTINELS: 's1', REDIS_CLUSTER_NODES: 'n1' }, 'REDIS_CLUSTER_NODES', /not both/],
      [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINEL_NAME', /only applies with REDIS_SENTINELS/],
      [{ REDIS_URL: 'redis://r', REDIS_SENTINEL_PASSWORD: 'p' }, 'REDIS_SENTINEL_PASSWORD', /only applies with REDIS_SENTINELS/],
      [{ REDIS_SENTINELS: 's1:notaport' }, 'REDIS_SENTINELS', /is not host:port/],
      [{ REDIS_SENTINELS: ' , ' }, 'REDIS_SENTINELS', /at least one/],
      [{ REDIS_CLUSTER_NODES: 'n1:70000' }, 'REDIS_CLUSTER_NODES', /is not host:port/],
      [{ REDIS_CLUSTER_NODES: 'n1', REDIS_URL: 'redis://:pw@x/3' }, 'REDIS_URL', /only database 0/],
      [{ TELEGATE_REDIS_WAIT_REPLICAS: '1' }, 'TELEGATE_REDIS_WAIT_REPLICAS', /needs Redis/],
      [{ REDIS_URL: 'redis://r', TELEGATE_REDIS_WAIT_REPLICAS: '-1' }, 'TELEGATE_REDIS_WAIT_REPLICAS', /must be >= 0/],
      [{ REDIS_URL: 'redis://r', TELEGATE_REDIS_WAIT_TIMEOUT_MS: '5000' }, 'TELEGATE_REDIS_WAIT_TIMEOUT_MS', /must be <= 1500/],
    ];
    for (const [env, variable, hint] of refused) {
      it(`refuses ${JSON.stringify(env)} naming ${variable}`, () => {
        const e = configError({ TELEGATE_API_KEYS: KEY, ...env });
        assert.equal(e.variable, variable);
        assert.match(e.message, hint);
      });
    }
  });

  it('parses the default proxy and booleans', () => {
    const c = loadConfig(
      { TELEGATE_API_KEYS: KEY, TELEGATE_DEFAULT_PROXY: 'socks5://u:p%40ss@10.0.0.5:1080', TELEGATE_EXPOSE_SESSION_STRING: '1' },
      parseProxyUrl,
    );
    assert.deepEqual([c.defaultProxy?.host, c.defaultProxy?.port, c.defaultProxy?.password], ['10.0.0.5', 1080, 'p@ss']);
    assert.equal(c.exposeSessionString, true);
  });

  it('TELEGATE_REQUIRE_LEASE_TOKEN: off by default, on with true or 1', () => {
    assert.equal(loadConfig({ TELEGATE_API_KEYS: KEY }, parseProxyUrl).requireLeaseToken, false);
    for (const v of ['true', '1', 'TRUE']) assert.equal(loadConfig({ TELEGATE_API_KEYS: KEY, TELEGATE_REQUIRE_LEASE_TOKEN: v }, parseProxyUrl).requireLeaseToken, true);
    assert.equal(loadConfig({ TELEGATE_API_KEYS: KEY, TELEGATE_REQUIRE_LEASE_TOKEN: 'false' }, parseProxyUrl).requireLeaseToken, false);
  });

  it('the process stops at start-up with one line naming the variable, and exit code 1', () => {
    const r = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', TELEGATE_API_KEYS: KEY, PORT: '99999' }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /^telegate: invalid configuration: PORT: must be <= 65535/);
    const r2 = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 10_000 });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /TELEGATE_API_KEYS: no API key configured/);
  });

  it('without REDIS_URL the process warns that state is in memory, and serves', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-mem-'));
    const r = await Replica.start({ TELEGATE_API_KEYS: KEY, TELEGATE_SESSIONS_DIR: dir });
    try {
      await until(() => r.output.includes('IN MEMORY'), 'the in-memory warning');
      assert.ok(!r.output.includes(KEY), 'the API key is never logged');
      assert.equal((await r.fetch('/status', { key: KEY })).status, 200);
    } finally {
      await r.kill('SIGTERM');
    }
  });
});
