import assert from 'node:assert/strict';
import { randomString } from '../../src/pool/random';

describe('randomString: tokens from a pooled CSPRNG buffer', () => {
  it('gives the asked length, never the same bytes twice, across refills of the pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      // 18 bytes: 4096 is not a multiple, so refills happen with bytes left over.
      const t = randomString(18, 'base64url');
      assert.match(t, /^[A-Za-z0-9_-]{24}$/);
      assert.ok(!seen.has(t), 'a repeated token');
      seen.add(t);
    }
    const h = randomString(8, 'hex');
    assert.match(h, /^[0-9a-f]{16}$/);
    assert.throws(() => randomString(5000, 'hex'), RangeError);
  });
});
