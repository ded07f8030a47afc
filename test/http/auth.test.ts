/**
 * makeAuthenticator: the constant-time check of a presented key, and the
 * verdicts it keeps for keys it has accepted (no SHA-256 per request).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { makeAuthenticator } from '../../src/http/auth';

const WORKER = 'worker-key-0123456789';
const ADMIN = 'admin-key-0123456789';

describe('auth: makeAuthenticator', () => {
  it('an accepted key is checked once: later requests get the kept verdict', () => {
    const auth = makeAuthenticator([WORKER, ADMIN], [ADMIN]);
    const first = auth(WORKER);
    assert.deepEqual(first, { keyId: createHash('sha256').update(WORKER).digest('hex').slice(0, 16), admin: false });
    assert.equal(auth(WORKER), first, 'the same verdict object: no digest, no compare the second time');
    assert.equal(auth(ADMIN)?.admin, true);
    assert.ok(Object.isFrozen(first), 'a kept verdict cannot be changed by a request');
  });

  it('wrong keys are never kept: each is digested and refused, and the right keys still pass', () => {
    const auth = makeAuthenticator([WORKER], []);
    for (let i = 0; i < 2000; i++) assert.equal(auth(`wrong-${i}`), null);
    assert.equal(auth(`${WORKER}x`), null);
    assert.equal(auth(WORKER.slice(0, -1)), null);
    assert.equal(auth(WORKER)?.admin, true, 'roles off: every key is an admin');
    assert.equal(auth('wrong-1'), null);
  });
});
