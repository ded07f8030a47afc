import assert from 'node:assert/strict';
import { testClient } from '../../support/redis';
import { sharedRedisUrl } from './global';

describe('test harness', () => {
  it('runs its own redis-server, never the default port', async () => {
    const url = sharedRedisUrl();
    assert.notEqual(new URL(url).port, '6379');
    const c = await testClient(url);
    try {
      assert.equal(await c.ping(), 'PONG');
    } finally {
      c.disconnect();
    }
  });
});
