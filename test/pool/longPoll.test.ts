/**
 * LongPoll: one freed session wakes one parked request (no thundering herd);
 * when that request cannot use it (it asks for a tag or scope the session does
 * not have), the wake-up goes on to the next parked request instead of leaving
 * the session free until a safety poll. The safety poll is set to a minute
 * here, so only the relay can wake the second request within the test.
 */
import assert from 'node:assert/strict';
import { LongPoll } from '../../src/pool/longPoll';
import { MemoryStore } from '../../src/pool/memory';
import { memoryFreedSource } from '../../src/pool/notifier';
import type { AcquireResult } from '../../src/pool/types';
import { until } from '../../support/poll';

const TTL = 60_000;
const MINUTE = 60_000;

describe('LongPoll: a freed session reaches a parked request that can use it', () => {
  let store: MemoryStore;
  let poll: LongPoll;
  beforeEach(async () => {
    store = new MemoryStore();
    poll = new LongPoll(store, TTL, memoryFreedSource(store), MINUTE);
    await store.applySync({ upserts: [{ name: 'plain', meta: { proxy: null } }], removes: [] });
  });
  afterEach(() => poll.close());

  it('the longest-parked request asks for a tag the session lacks: the next one gets it, without waiting for a safety poll', async () => {
    const held = await store.acquire(TTL);
    assert.ok(held.ok);
    let tagged: AcquireResult | undefined;
    let plain: AcquireResult | undefined;
    void poll.acquire(MINUTE, undefined, undefined, { tags: ['premium'] }).then((r) => (tagged = r));
    await until(() => poll.waiting === 1, 'the tagged request to park');
    void poll.acquire(MINUTE, undefined, undefined, {}).then((r) => (plain = r));
    await until(() => poll.waiting === 2, 'the plain request to park');

    await store.release(held.session.id, held.session.leaseToken);
    await until(() => plain !== undefined, 'the plain request to be woken by the relayed wake-up', 10_000);
    assert.equal(plain?.ok && plain.session.name, 'plain');
    assert.equal(tagged, undefined, 'the tagged request parks on');
    assert.equal(poll.waiting, 1);
  });

  it('nobody can use it: the wake-up goes once around the queue and stops (no endless retries)', async () => {
    const held = await store.acquire(TTL);
    assert.ok(held.ok);
    const acquire = store.acquire.bind(store);
    let tries = 0;
    store.acquire = (...args) => {
      tries++;
      return acquire(...args);
    };
    for (let i = 0; i < 3; i++) void poll.acquire(MINUTE, undefined, undefined, { tags: [`t${i}`] });
    await until(() => poll.waiting === 3, 'three tagged requests to park');
    const before = tries;
    await store.release(held.session.id, held.session.leaseToken);
    await until(() => tries - before === 3, 'each parked request to retry once', 10_000);
    // Settled: every request is parked again, and no fourth retry follows (the relay ran out).
    await until(() => poll.waiting === 3, 'all three to park again', 10_000);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(tries - before, 3);
  });
});
