import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createMemoryBackend } from '../../src/backend';
import { StaleFenceError } from '../../src/errors';
import { createLogger } from '../../src/log';
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

describe('the embedded backend: its leader fences syncs as a Redis leader does', () => {
  it("each term takes a new fence from the store; a sync carrying an older one is refused", async () => {
    const backend = createMemoryBackend(createLogger('silent'));
    const { leadership, store } = backend;
    const gained: number[] = [];
    leadership.on('gained', (f) => gained.push(f));
    const sync = (name: string, fence: number | undefined) => store.applySync({ upserts: [{ name, meta: {} }], removes: [] }, fence);
    try {
      leadership.start();
      const first = leadership.fence;
      assert.ok(first !== undefined);
      await sync('a', first);
      await leadership.stop();
      leadership.start();
      const second = leadership.fence;
      assert.ok(second !== undefined && second > first);
      assert.deepEqual(gained, [first, second]);
      await assert.rejects(sync('b', first), StaleFenceError);
      await sync('c', second);
      assert.equal((await store.status()).total, 2);
    } finally {
      await leadership.stop();
      await backend.close();
    }
  });
});
