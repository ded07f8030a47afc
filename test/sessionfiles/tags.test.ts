/** Sidecar "tags" (issue 12 item 5): validated, lowercased, each once, sorted. */
import assert from 'node:assert/strict';
import { MAX_TAGS, interpretSidecar } from '../../src/sessionfiles/sidecar';

describe('sessionfiles: sidecar tags', () => {
  it('reads tags lowercased, each once, sorted; absent or null means none', () => {
    const r = interpretSidecar({ tags: ['RU', 'premium', 'ru', 'farm:2024'] });
    assert.ok(r.ok);
    assert.deepEqual(r.sidecar?.tags, ['farm:2024', 'premium', 'ru']);
    for (const data of [{}, { tags: null }]) {
      const none = interpretSidecar(data);
      assert.ok(none.ok);
      assert.equal(none.sidecar?.tags, undefined);
    }
  });

  it('flags the file for tags that are not a list of valid names', () => {
    for (const tags of ['premium', [1], ['has space'], [''], ['x'.repeat(65)], Array.from({ length: MAX_TAGS + 1 }, (_, i) => `t${i}`)]) {
      const r = interpretSidecar({ tags });
      assert.ok(!r.ok, JSON.stringify(tags));
      assert.match(r.error, /^sidecar tags: /);
    }
  });
});
