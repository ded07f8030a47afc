/**
 * A2, end to end: one account is one session. The attack this reproduces: a
 * session file renamed while its session is leased, or copied, used to become
 * a second session with the same auth key (Telegram kills both:
 * AUTH_KEY_DUPLICATED). A real server process, a real Redis, real Telethon files.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sharedRedisUrl } from './helpers/global';
import { Replica, type ApiLease, type ApiListed } from '../support/replica';
import { makeBulk } from '../support/sessions';

const KEY = 'duplicates-test-key-0123456789ab';


describe('sync: a renamed or copied session file is never a second session (real process, real Redis)', function () {
  this.timeout(60_000);
  let dir: string;
  let replica: Replica;
  const file = (name: string): string => path.join(dir, `${name}.session`);

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-dup-'));
    makeBulk(dir, 3); // s000000.session … s000002.session, real Telethon files with keys of their own, as in the attack
    replica = await Replica.start({
      REDIS_URL: sharedRedisUrl(),
      TELEGATE_KEY_PREFIX: `dup-${Date.now()}`,
      TELEGATE_API_KEYS: KEY,
      TELEGATE_SESSIONS_DIR: dir,
      TELEGATE_SYNC_CRON: '0 0 1 1 *', // only the start-up sync and ours
      TELEGATE_RATE_LIMIT: '0',
    });
  });
  afterEach(async () => {
    await replica.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, p: string, expect: number): Promise<Record<string, unknown>> => replica.call(method, p, KEY, expect);
  const sync = async (): Promise<Record<string, unknown>> => (await call('POST', '/sync', 200)).details as Record<string, unknown>;
  const lease = async (): Promise<ApiLease> => (await call('GET', '/session', 200)) as unknown as ApiLease;
  async function byName(name: string): Promise<ApiListed> {
    const s = ((await call('GET', '/sessions?limit=100', 200)).sessions as ApiListed[]).find((x) => x.session_name === name);
    assert.ok(s, `${name} is listed`);
    return s;
  }

  it('mv while leased: the new name is a duplicate until the old id is removed, then the same account under a new id', async () => {
    await sync();
    const held = await lease();
    assert.equal(held.session_name, 's000000');
    renameSync(file('s000000'), file('renamed'));
    assert.equal((await sync()).new_sessions, 1);
    // The attack then got s000001, then `renamed`: the held auth key a second time.
    const others = [(await lease()).session_name, (await lease()).session_name];
    assert.deepEqual(others, ['s000001', 's000002']);
    await call('GET', '/session', 503);
    const dup = await byName('renamed');
    assert.deepEqual([dup.state, dup.reason], ['invalidated', 'file_error: same auth key as s000000']);
    assert.equal((await call('POST', `/restore?session_id=${dup.session_id}`, 200)).state, 'invalidated', 'restore does not free it');
    await call('GET', '/session', 503);

    await call('POST', `/release?session_id=${held.session_id}&lease_token=${held.lease_token}`, 200);
    assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 1, total_sessions: 3, updated_sessions: 1 });
    const next = await lease();
    assert.deepEqual([next.session_name, next.session_id], ['renamed', dup.session_id]);
    assert.notEqual(next.session_id, held.session_id);
    await call('GET', '/session', 503);
  });

  it('cp with no lease: the copy is a duplicate, never issued', async () => {
    await sync();
    copyFileSync(file('s000000'), file('x copy'));
    assert.equal((await sync()).new_sessions, 1);
    assert.equal((await byName('x copy')).reason, 'file_error: same auth key as s000000');
    const names = [(await lease()).session_name, (await lease()).session_name, (await lease()).session_name];
    assert.deepEqual(names, ['s000000', 's000001', 's000002']);
    await call('GET', '/session', 503);
    await sync();
    await call('GET', '/session', 503);
  });
});
