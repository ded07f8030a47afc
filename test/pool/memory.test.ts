import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { MemoryStore } from '../../src/pool/memory';
import { memoryFreedSource } from '../../src/pool/notifier';
import { storeContract } from './store.contract';

let store: MemoryStore;
storeContract(
  'memory',
  () => {
    store = new MemoryStore();
    return Promise.resolve({
      store,
      freed: memoryFreedSource(store),
      setFence: (f: number) => {
        store.setFence(f);
        return Promise.resolve();
      },
    });
  },
  () => store.close(),
);

describe('MemoryStore: the event history is a ring buffer', () => {
  it('keeps the last eventsMaxLen events, newest first', async () => {
    const m = new MemoryStore(Date.now, 100);
    await m.applySync({ upserts: [{ name: 'a', meta: {} }], removes: [] });
    for (let i = 0; i < 300; i++) {
      const x = await m.acquire(60_000);
      assert.ok(x.ok);
      await m.release(x.session.id, x.session.leaseToken);
    }
    const all = await m.history({ limit: 1000 });
    assert.equal(all.events.length, 100);
    assert.equal(all.events[0]?.type, 'released');
    const ids = all.events.map((e) => e.id);
    const sorted = [...ids].sort((x, y) => {
      const [a1 = 0, a2 = 0] = x.split('-').map(Number);
      const [b1 = 0, b2 = 0] = y.split('-').map(Number);
      return b1 - a1 || b2 - a2;
    });
    assert.deepEqual(ids, sorted);
    await m.close();
  });
});

describe('MemoryStore: the embedded store runs without a Redis client', () => {
  it('loading it (and what it imports) loads no ioredis', () => {
    // A fresh process: this one has ioredis loaded by the other suites.
    const script = `require('./src/pool/memory');
      const loaded = Object.keys(require.cache).filter((k) => /[\\\\/]node_modules[\\\\/]ioredis[\\\\/]/.test(k));
      process.stdout.write(JSON.stringify({ modules: Object.keys(require.cache).length, ioredis: loaded.length }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: `${__dirname}/../..`, encoding: 'utf8' })) as { modules: number; ioredis: number };
    assert.ok(out.modules > 3, `the store was loaded (${out.modules} modules)`);
    assert.equal(out.ioredis, 0, 'ioredis modules loaded by the embedded store');
  });
});
