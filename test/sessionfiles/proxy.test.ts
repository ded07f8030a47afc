import assert from 'node:assert/strict';
import type { Proxy } from '../../src/pool/types';
import { maskProxy, normalizeProxy, parseProxyUrl, ProxyFormatError } from '../../src/sessionfiles';

function throwsProxy(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProxyFormatError, `ProxyFormatError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

describe('sessionfiles: proxies', () => {
  describe('parseProxyUrl', () => {
    it('parses socks5://user:pass@host:port', () => {
      assert.deepEqual(parseProxyUrl('socks5://user:pass@10.0.0.5:1080'), {
        type: 'socks5',
        host: '10.0.0.5',
        port: 1080,
        username: 'user',
        password: 'pass',
      });
    });
    it('percent-decodes credentials', () => {
      const p = parseProxyUrl('socks5://us%40er%3Aname:p%40ss%3Aw%2Fd%25@h.example:1080');
      assert.equal(p.username, 'us@er:name');
      assert.equal(p.password, 'p@ss:w/d%');
    });
    it('splits at the last @ so an unencoded @ in a password survives', () => {
      assert.equal(parseProxyUrl('socks5://u:p@ss@h:1').password, 'p@ss');
    });
    it('accepts no credentials, a username alone, a trailing slash and surrounding spaces', () => {
      assert.deepEqual(parseProxyUrl(' http://proxy.local:3128/ '), {
        type: 'http',
        host: 'proxy.local',
        port: 3128,
        username: null,
        password: null,
      });
      const u = parseProxyUrl('socks4://onlyuser@h:1080');
      assert.deepEqual([u.username, u.password], ['onlyuser', null]);
    });
    it('keeps an explicit default port (http://h:80)', () => {
      assert.equal(parseProxyUrl('http://h:80').port, 80);
    });
    it('reads bracketed IPv6 hosts', () => {
      const p = parseProxyUrl('socks5://u:p@[2001:db8::1]:1080');
      assert.deepEqual([p.host, p.port], ['2001:db8::1', 1080]);
      throwsProxy(() => parseProxyUrl('socks5://2001:db8::1:1080'), /brackets/);
    });
    it('maps socks5h / socks4a to rdns, and is case-insensitive', () => {
      assert.deepEqual(parseProxyUrl('SOCKS5H://h:1'), {
        type: 'socks5',
        host: 'h',
        port: 1,
        username: null,
        password: null,
        rdns: true,
      });
      assert.equal(parseProxyUrl('socks4a://h:1').rdns, true);
    });
    it('rejects a missing port', () => {
      throwsProxy(() => parseProxyUrl('socks5://u:p@h'), /no port/);
      throwsProxy(() => parseProxyUrl('socks5://u:p@h:'), /no port/);
    });
    it('rejects ports outside 1..65535 or not numeric', () => {
      for (const port of ['0', '65536', '99999999', 'abc', '-1']) {
        throwsProxy(() => parseProxyUrl(`socks5://h:${port}`), /port must be an integer 1\.\.65535/);
      }
    });
    it('rejects an unknown scheme without echoing the password', () => {
      assert.throws(
        () => parseProxyUrl('ftp://u:topsecret@h:21'),
        (err: unknown) => err instanceof ProxyFormatError && /unknown proxy type 'ftp'/.test(err.message) && !err.message.includes('topsecret'),
      );
    });
    it('rejects garbage: no scheme, empty host, paths, bad percent-encoding', () => {
      throwsProxy(() => parseProxyUrl('h:1080'), /scheme:\/\//);
      throwsProxy(() => parseProxyUrl('socks5://u:p@:1080'), /host is missing/);
      throwsProxy(() => parseProxyUrl('socks5://h:1080/path'), /path/);
      throwsProxy(() => parseProxyUrl('socks5://h:1080?x=1'), /query/);
      throwsProxy(() => parseProxyUrl('socks5://u:%zz@h:1'), /percent-encoded password/);
      throwsProxy(() => parseProxyUrl(''), /scheme:\/\//);
    });
  });

  describe('normalizeProxy', () => {
    it('treats empty values as "no proxy"', () => {
      for (const v of [null, undefined, false, '', '  ', [], {}]) assert.equal(normalizeProxy(v), null);
    });
    it('reads Telethon tuples with names or python-socks constants', () => {
      const expected: Proxy = { type: 'socks5', host: 'h', port: 1080, username: 'u', password: 'p', rdns: true };
      assert.deepEqual(normalizeProxy(['socks5', 'h', 1080, true, 'u', 'p']), expected);
      assert.deepEqual(normalizeProxy([2, 'h', 1080, true, 'u', 'p']), expected);
      assert.deepEqual(normalizeProxy(['ProxyType.SOCKS5', 'h', '1080', 1, 'u', 'p']), expected);
      assert.equal(normalizeProxy([1, 'h', 1080])?.type, 'socks4');
      assert.equal(normalizeProxy([3, 'h', 8080])?.type, 'http');
      assert.equal(normalizeProxy([3, 'h', 8080, null, null, null])?.rdns, undefined);
    });
    it('reads objects with any of the usual key names', () => {
      assert.deepEqual(normalizeProxy({ proxy_type: 2, addr: 'a', port: 1, username: 'u', password: 'p' }), {
        type: 'socks5',
        host: 'a',
        port: 1,
        username: 'u',
        password: 'p',
      });
      assert.deepEqual(normalizeProxy({ scheme: 'http', hostname: 'b', port: '8080', login: 'l', pass: 1234 }), {
        type: 'http',
        host: 'b',
        port: 8080,
        username: 'l',
        password: '1234',
      });
      assert.equal(normalizeProxy({ type: 'socks5', ip: '1.1.1.1', port: 1 })?.host, '1.1.1.1');
    });
    it('reads URL strings', () => {
      assert.equal(normalizeProxy('socks5://h:1')?.port, 1);
    });
    it('rejects garbage with a clear message', () => {
      throwsProxy(() => normalizeProxy(42), /URL string, a list or an object/);
      throwsProxy(() => normalizeProxy(true), /URL string, a list or an object/);
      throwsProxy(() => normalizeProxy(['socks5', 'h']), /\[type, host, port/);
      throwsProxy(() => normalizeProxy([4, 'h', 1]), /unknown proxy type 4/);
      throwsProxy(() => normalizeProxy({ host: 'h', port: 1 }), /type is missing/);
      throwsProxy(() => normalizeProxy({ type: 'socks5', port: 1 }), /host is missing/);
      throwsProxy(() => normalizeProxy({ type: 'socks5', host: 'h' }), /port must be an integer 1\.\.65535 \(got missing\)/);
      throwsProxy(() => normalizeProxy({ type: 'socks5', host: 'h', port: 1.5 }), /port must be/);
      throwsProxy(() => normalizeProxy({ type: 'socks5', host: 'h', port: 1, password: {} }), /password must be a string/);
      throwsProxy(() => normalizeProxy({ type: 'socks5', host: 'h', port: 1, rdns: 'yes' }), /rdns/);
      throwsProxy(() => normalizeProxy({ type: 'mtproto', host: 'h', port: 443, secret: 'ee00' }), /secret/);
    });
  });

  describe('maskProxy', () => {
    it('replaces the password, leaves the original alone', () => {
      const p: Proxy = { type: 'socks5', host: 'h', port: 1, username: 'u', password: 'p' };
      assert.deepEqual(maskProxy(p), { ...p, password: '***' });
      assert.equal(p.password, 'p');
    });
    it('keeps absent passwords absent, and null as null', () => {
      const p: Proxy = { type: 'http', host: 'h', port: 1, username: null, password: null };
      assert.deepEqual(maskProxy(p), p);
      assert.equal(maskProxy(null), null);
    });
  });
});
