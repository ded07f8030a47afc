/**
 * Issue 10 item 1, end to end: a session file that vanishes for one sync
 * (NFS hiccup, rsync --delete-after, an operator moving files) never ends a
 * lease or a rest. A real server process, a real Redis, real session files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sharedRedisUrl } from './helpers/global';
import { Replica, type ApiLease, type ApiListed } from '../support/replica';
import { addSession } from '../support/sessions';

const KEY = 'file-missing-test-key-0123456789';

describe('sync: a session file missing for one sync (real process, real Redis)', function () {
  this.timeout(60_000);
  let dir: string;
  let away: string;
  let replica: Replica;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-missing-'));
    away = mkdtempSync(path.join(os.tmpdir(), 'telegate-away-'));
    for (const n of ['alpha', 'beta']) addSession(dir, n);
  });
  beforeEach(async () => {
    replica = await Replica.start({
      REDIS_URL: sharedRedisUrl(),
      TELEGATE_KEY_PREFIX: `missing-${Date.now()}`,
      TELEGATE_API_KEYS: KEY,
      TELEGATE_SESSIONS_DIR: dir,
      TELEGATE_SYNC_CRON: '0 0 1 1 *', // only the start-up sync and ours
      TELEGATE_RATE_LIMIT: '0',
    });
    await sync(); // the start-up sync may still be running: ours registers both files either way
  });
  afterEach(async () => {
    await replica.kill('SIGTERM');
    for (const f of readdirSync(away)) renameSync(path.join(away, f), path.join(dir, f));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(away, { recursive: true, force: true });
  });

  const call = (method: string, p: string, expect: number): Promise<Record<string, unknown>> => replica.call(method, p, KEY, expect);
  const sync = async (query = ''): Promise<Record<string, unknown>> => (await call('POST', `/sync${query}`, 200)).details as Record<string, unknown>;
  const moveAway = (name: string): void => renameSync(path.join(dir, `${name}.session`), path.join(away, `${name}.session`));
  const moveBack = (name: string): void => renameSync(path.join(away, `${name}.session`), path.join(dir, `${name}.session`));
  async function listed(id: number): Promise<ApiListed> {
    const page = (await call('GET', '/sessions?limit=100', 200)).sessions as ApiListed[];
    const s = page.find((x) => x.session_id === id);
    assert.ok(s, `session ${id} is listed`);
    return s;
  }

  it('a leased session keeps its id and lease; nobody else gets it; the holder heartbeats on', async () => {
    const held = (await call('GET', '/session', 200)) as unknown as ApiLease;
    moveAway(held.session_name);
    assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 0, total_sessions: 2, updated_sessions: 0 });
    assert.deepEqual(await sync('?force=true'), { new_sessions: 0, removed_sessions: 0, total_sessions: 2, updated_sessions: 0 }, 'force keeps it too');
    const l = await listed(held.session_id);
    assert.deepEqual([l.state, l.file_missing], ['in_use', true]);
    // A second worker gets the other session, a third gets nothing: never the held one.
    const other = (await call('GET', '/session', 200)) as unknown as ApiLease;
    assert.notEqual(other.session_id, held.session_id);
    await call('GET', '/session', 503);
    await call('POST', `/heartbeat?session_id=${held.session_id}&lease_token=${held.lease_token}`, 200);

    moveBack(held.session_name);
    assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 0, total_sessions: 2, updated_sessions: 1 });
    const l2 = await listed(held.session_id);
    assert.deepEqual([l2.state, l2.file_missing, l2.session_name], ['in_use', false, held.session_name]);
    await call('POST', `/heartbeat?session_id=${held.session_id}&lease_token=${held.lease_token}`, 200);
    await call('POST', `/release?session_id=${held.session_id}&lease_token=${held.lease_token}`, 200);
    const again = (await call('GET', '/session', 200)) as unknown as ApiLease;
    assert.deepEqual([again.session_id, again.session_name], [held.session_id, held.session_name], 'same id when it comes back');
  });

  it('a resting session keeps its id and deadline, and is never issued while its file is gone', async () => {
    const held = (await call('GET', '/session', 200)) as unknown as ApiLease;
    const fw = await call('POST', `/floodwait?session_id=${held.session_id}&wait_seconds=3600&lease_token=${held.lease_token}`, 200);
    moveAway(held.session_name);
    assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 0, total_sessions: 2, updated_sessions: 0 });
    const l = await listed(held.session_id);
    assert.deepEqual([l.state, l.floodwait_until, l.file_missing], ['floodwait', fw.floodwait_until, true]);
    const status = await call('GET', '/status', 200);
    assert.deepEqual([status.total, status.in_floodwait, status.next_available], [2, 1, fw.floodwait_until]);

    moveBack(held.session_name);
    await sync();
    const l2 = await listed(held.session_id);
    assert.deepEqual([l2.state, l2.floodwait_until, l2.file_missing], ['floodwait', fw.floodwait_until, false]);
    await call('POST', `/restore?session_id=${held.session_id}`, 200);
    const first = (await call('GET', '/session', 200)) as unknown as ApiLease;
    const second = (await call('GET', '/session', 200)) as unknown as ApiLease;
    assert.ok([first.session_id, second.session_id].includes(held.session_id), 'same id after the rest');
  });

  it('a rest that ends while the file is gone takes the session out; the next sync removes it', async () => {
    const held = (await call('GET', '/session', 200)) as unknown as ApiLease;
    await call('POST', `/floodwait?session_id=${held.session_id}&wait_seconds=3600&lease_token=${held.lease_token}`, 200);
    moveAway(held.session_name);
    await sync();
    const r = await call('POST', `/restore?session_id=${held.session_id}`, 200);
    assert.equal(r.state, 'invalidated');
    const l = await listed(held.session_id);
    assert.deepEqual([l.state, l.reason], ['invalidated', 'file_error: file_missing']);
    const other = (await call('GET', '/session', 200)) as unknown as ApiLease;
    assert.notEqual(other.session_id, held.session_id);
    assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 1, total_sessions: 1, updated_sessions: 0 });
  });
});
