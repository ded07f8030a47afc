import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Proxy } from '../../src/pool/types';
import { authKeyId, readSessionFile, type SessionFileInfo } from '../../src/sessionfiles';
import { parseSessionBytes, PROD_DCS, TEST_DCS } from '../../src/sessionfiles/sqlite';
import { BROKEN_SPECS, makeSessions, tempDir, type Expected, type FixtureSpec } from '../../support/sessions';

const DEFAULT_PROXY: Proxy = { type: 'socks5', host: '10.0.0.9', port: 1080, username: 'du', password: 'dp' };

const SECRET_SIDECAR = {
  app_id: 2040,
  app_hash: 'b18441a1ff607e10a989891a5462e627',
  device: 'Pixel 7',
  sdk: 'SDK 33',
  app_version: '10.3.2',
  lang_pack: 'en',
  system_lang_pack: 'en-US',
  phone: '15550001111',
  user_id: 999001,
  twoFA: 'S3CRET-twofa',
  '2fa': 'S3CRET-2fa',
  TwoFa: 'S3CRET-TwoFa',
  password: 'S3CRET-password',
  Password: 'S3CRET-Password',
  email_password: 'S3CRET-email',
  session_string: 'S3CRET-session-string',
  string_session: 'S3CRET-string-session',
  auth_key: 'S3CRET-auth-key',
  authKey: 'S3CRET-authKey',
  bot_token: 'S3CRET-token',
  notes: 'A'.repeat(352),
  extra: { cloud_password: 'S3CRET-nested', hint: 'kept' },
  proxy: ['socks5', '1.2.3.4', 1080, true, 'pu', 'S3CRET-proxy-pass'],
};

const SPECS: FixtureSpec[] = [
  // Telethon v1
  { name: 'tl_self', kind: 'telethon', dc_id: 2, self_id: 777000123, entities: 5 },
  { name: 'tl_noself', kind: 'telethon', dc_id: 4, server_address: '149.154.167.91', entities: 3 },
  { name: 'tl_v3', kind: 'telethon', version: 3, no_takeout: true, dc_id: 1, server_address: '149.154.175.53' },
  { name: 'tl_ipv6', kind: 'telethon', dc_id: 5, server_address: '2001:b28:f23f:f005::a', self_id: 5 },
  { name: 'tl_host', kind: 'telethon', dc_id: 2, server_address: 'dc2.example.org' },
  { name: 'tl_wal', kind: 'telethon', dc_id: 3, server_address: '149.154.175.100', wal: true, self_id: 42 },
  { name: 'tl_sidecar_uid', kind: 'telethon', sidecar: { user_id: 999 } },
  { name: 'tl_self_and_sidecar_uid', kind: 'telethon', self_id: 777, sidecar: { user_id: 999 } },
  // Telethon v2 (version 10)
  {
    name: 'tl2_user',
    kind: 'telethon2',
    dcs: [
      [2, '149.154.167.51:443', 256],
      [4, '149.154.167.91:443', 256],
    ],
    user: { id: 123456, dc: 4, bot: false },
  },
  { name: 'tl2_nouser', kind: 'telethon2', dcs: [[1, '149.154.175.53:443', 256]] },
  { name: 'tl2_ipv6', kind: 'telethon2', dcs: [[2, '[2001:67c:4e8:f002::a]:443', 256]], user: { id: 7, dc: 2 } },
  { name: 'tl2_shortkey', kind: 'telethon2', dcs: [[2, '149.154.167.51:443', 64]], user: { id: 7, dc: 2 } },
  // Pyrogram / Kurigram
  { name: 'py_v3', kind: 'pyrogram', version: 3, dc_id: 2, api_id: 611335, user_id: 5566778899, is_bot: false },
  { name: 'py_v3_bot', kind: 'pyrogram', version: 3, dc_id: 1, api_id: 94575, user_id: 7000000001, is_bot: true },
  { name: 'py_v2_sidecar_api', kind: 'pyrogram', version: 2, dc_id: 5, user_id: 42, sidecar: { app_id: 2040 } },
  { name: 'py_v3_null_api', kind: 'pyrogram', version: 3, dc_id: 3, user_id: 43 },
  { name: 'py_v3_sidecar_uid', kind: 'pyrogram', version: 3, dc_id: 2, api_id: 1, sidecar: { api_id: '77', id: '31337' } },
  { name: 'py_v3_test', kind: 'pyrogram', version: 3, dc_id: 2, api_id: 5, user_id: 9, test_mode: true },
  { name: 'kg_v7', kind: 'pyrogram', version: 7, kurigram: true, dc_id: 4, api_id: 2496, user_id: 6000000000 },
  { name: 'kg_v7_addr', kind: 'pyrogram', version: 7, kurigram: true, dc_id: 2, api_id: 1, server_address: '10.1.2.3' },
  { name: 'py_v8', kind: 'pyrogram', version: 8, dc_id: 2, api_id: 1 },
  // Broken
  ...BROKEN_SPECS,
  // Sidecars
  { name: 'sc_secrets', kind: 'telethon', sidecar: SECRET_SIDECAR },
  { name: 'sc_list_num', kind: 'telethon', sidecar: { proxy: [2, 'p.example', '1081', false, 'u', 'p'] } },
  { name: 'sc_list_http', kind: 'telethon', sidecar: { proxy: [3, '10.0.0.1', 8080] } },
  { name: 'sc_list_socks4', kind: 'telethon', sidecar: { proxy: [1, '10.0.0.1', 1080, true] } },
  {
    name: 'sc_obj',
    kind: 'telethon',
    sidecar: { proxy: { proxy_type: 'socks5', addr: '5.6.7.8', port: 1082, user: 'uu', pass: 'pp', rdns: true } },
  },
  {
    name: 'sc_obj_alt',
    kind: 'pyrogram',
    api_id: 1,
    sidecar: { proxy: { scheme: 'http', hostname: 'proxy.local', port: '3128', login: 'l', password: 'w' } },
  },
  { name: 'sc_obj_ip', kind: 'telethon', sidecar: { proxy: { type: 'SOCKS5', ip: '9.9.9.9', port: 9050 } } },
  { name: 'sc_url', kind: 'telethon', sidecar: { proxy: 'socks5://us%40er:p%3Ass%2F@host.example:1080' } },
  { name: 'sc_null_proxy', kind: 'telethon', sidecar: { proxy: null, device: 'x' } },
  { name: 'sc_no_proxy', kind: 'telethon', sidecar: { device: 'y' } },
  { name: 'sc_bad_port', kind: 'telethon', sidecar: { proxy: ['socks5', 'h', 70000, true, 'u', 'pw-70000'] } },
  { name: 'sc_bad_type', kind: 'telethon', sidecar: { proxy: { type: 'ftp', host: 'h', port: 21 } } },
  { name: 'sc_malformed', kind: 'telethon', sidecar_text: '{"twoFA": "hunter2", "app_id": 1,}' },
  { name: 'sc_garbage', kind: 'telethon', sidecar_text: 'twoFA=hunter2' },
  { name: 'sc_array', kind: 'telethon', sidecar_text: '[1, 2]' },
  { name: 'sc_bom', kind: 'telethon', sidecar_text: '\uFEFF{"device": "bom"}' },
  { name: 'both_broken', kind: 'telethon', key_len: 128, sidecar_text: '{' },
];

describe('sessionfiles: readSessionFile', () => {
  let dir: string;
  let cleanup: () => void;
  let exp: Record<string, Expected>;

  before(() => {
    ({ dir, cleanup } = tempDir());
    exp = makeSessions(dir, SPECS);
    // Raw broken files, made here from the generated ones.
    const good = readFileSync(path.join(dir, 'tl_self.session'));
    writeFileSync(path.join(dir, 'empty.session'), Buffer.alloc(0));
    writeFileSync(path.join(dir, 'text.session'), 'this is not a database, just text\n'.repeat(10));
    writeFileSync(path.join(dir, 'telethon_json.session'), JSON.stringify({ dc_id: 2, auth_key_data: 'AAAA' }));
    writeFileSync(path.join(dir, 'half.session'), good.subarray(0, Math.floor(good.length / 2)));
    writeFileSync(path.join(dir, 'header_only.session'), good.subarray(0, 100));
    writeFileSync(path.join(dir, 'odd_size.session'), good.subarray(0, good.length - 100));
    const garbled = Buffer.from(good);
    const pageSize = garbled.readUInt16BE(16);
    for (let i = pageSize; i < garbled.length; i++) garbled[i] = (i * 7919) & 0xff; // every page but the first
    writeFileSync(path.join(dir, 'garbled.session'), garbled);
    mkdirSync(path.join(dir, 'dir.session'));
  });
  after(() => cleanup());

  const read = (name: string, defaultProxy: Proxy | null = null): Promise<SessionFileInfo> =>
    readSessionFile(path.join(dir, `${name}.session`), { defaultProxy });

  /** A usable session: no error, and the string equals Python's encoding of the same bytes. */
  async function usable(name: string): Promise<SessionFileInfo> {
    const info = await read(name);
    const e = exp[name];
    assert.ok(e, `fixture ${name}`);
    assert.equal(info.fileError, undefined, `${name}: ${info.fileError}`);
    assert.equal(info.meta.format, e.format);
    assert.equal(info.meta.dcId, e.dc_id);
    assert.equal(info.meta.userId, e.user_id);
    assert.ok(e.session_string, `fixture ${name} has an expected string`);
    assert.equal(info.meta.sessionString, e.session_string);
    assert.match(info.meta.authKeyId ?? '', /^[0-9a-f]{16}$/, 'auth_key_id of the file (ends logged_out when it changes)');
    return info;
  }

  it("authKeyId is Telegram's auth_key_id: the low 64 bits of SHA-1(auth_key)", () => {
    // python3 -c "import hashlib; print(hashlib.sha1(bytes(range(256))).digest()[-8:].hex())"
    assert.equal(authKeyId(Uint8Array.from({ length: 256 }, (_, i) => i)), '32d1586ea457dfc8');
  });

  /** The api_id packed in a Pyrogram string the reader returned ('>BI?256sQ?': bytes 1-4). */
  function stringApiId(info: SessionFileInfo): number {
    assert.ok(info.meta.sessionString !== undefined, 'a session string');
    return Buffer.from(info.meta.sessionString, 'base64url').readUInt32BE(1);
  }

  describe('Telethon v1', () => {
    it('reads a v7 file with its own user as entity 0', async () => {
      const info = await usable('tl_self');
      assert.equal(info.meta.userId, 777000123);
      assert.equal(info.meta.sessionString?.length, 353); // Telethon's IPv4 string length
      assert.ok(info.meta.sessionString?.startsWith('1'));
    });
    it('reads a v7 file without entity 0 (no userId)', async () => {
      const info = await usable('tl_noself');
      assert.equal('userId' in info.meta, false);
      assert.equal(info.meta.dcId, 4);
    });
    it('reads an old version without takeout_id', () => usable('tl_v3'));
    it('encodes an IPv6 server address in the 16-byte form', async () => {
      const info = await usable('tl_ipv6');
      assert.notEqual(info.meta.sessionString?.length, 353);
    });
    it('reads a WAL-mode file', () => usable('tl_wal'));
    it('gives no string (but no error) when the stored address is not an IP', async () => {
      const info = await read('tl_host');
      assert.equal(info.fileError, undefined);
      assert.equal(info.meta.sessionString, undefined);
      assert.equal(info.meta.sessionKey?.address, 'dc2.example.org'); // read, but a host name has no packed form
    });
    it('takes userId from the sidecar only when the session has none', async () => {
      assert.equal((await read('tl_sidecar_uid')).meta.userId, 999);
      assert.equal((await read('tl_self_and_sidecar_uid')).meta.userId, 777);
    });
  });

  describe('Telethon v2 (version 10)', () => {
    it("uses the user's home DC and id", async () => {
      const info = await usable('tl2_user');
      assert.equal(info.meta.dcId, 4);
      assert.equal(info.meta.userId, 123456);
    });
    it('falls back to the first DC without a user row', () => usable('tl2_nouser'));
    it('parses a bracketed IPv6 addr', () => usable('tl2_ipv6'));
    it('flags a short key', async () => {
      assert.equal((await read('tl2_shortkey')).fileError, 'auth key is 64 bytes, expected 256');
    });
  });

  describe('Pyrogram / Kurigram', () => {
    it('reads a v3 file', async () => {
      const info = await usable('py_v3');
      assert.equal(info.meta.userId, 5566778899);
      assert.equal(info.meta.sessionString?.length, 362); // 271 bytes, unpadded
      assert.doesNotMatch(info.meta.sessionString ?? '', /[=+/]/);
    });
    it('reads a bot session', () => usable('py_v3_bot'));
    it('takes api_id from the sidecar when the table has no api_id column (v2)', async () => {
      const info = await usable('py_v2_sidecar_api');
      assert.equal(info.meta.sessionKey?.apiId, 2040);
      assert.equal(stringApiId(info), 2040);
    });
    it('uses api_id 0 when neither the table nor a sidecar has one', async () => {
      const info = await usable('py_v3_null_api');
      assert.equal(info.meta.sessionKey?.apiId, null);
      assert.equal(stringApiId(info), 0);
    });
    it('prefers the table api_id, and takes a sidecar user id for the string', async () => {
      const info = await usable('py_v3_sidecar_uid');
      assert.equal(info.meta.userId, 31337);
      assert.equal(info.meta.sessionKey?.apiId, 1);
      assert.equal(stringApiId(info), 1);
    });
    it('keeps test_mode in the string', () => usable('py_v3_test'));
    it('reads a Kurigram v7 file', () => usable('kg_v7'));
    it('maps DC ids to addresses (test DCs on port 80), preferring a stored address', () => {
      const parse = (name: string) => {
        const r = parseSessionBytes(readFileSync(path.join(dir, `${name}.session`)));
        assert.ok(r.ok);
        return r.session;
      };
      const prod = parse('py_v3');
      assert.deepEqual([prod.serverAddress, prod.port], [PROD_DCS[2], 443]);
      const test = parse('py_v3_test');
      assert.deepEqual([test.serverAddress, test.port, test.testMode], [TEST_DCS[2], 80, true]);
      const stored = parse('kg_v7_addr');
      assert.deepEqual([stored.serverAddress, stored.port], ['10.1.2.3', 443]);
    });
    it('flags an unknown storage version', async () => {
      const info = await read('py_v8');
      assert.equal(info.fileError, 'unknown schema (Pyrogram storage version 8)');
      assert.equal(info.meta.format, 'pyrogram');
    });
  });

  describe('broken files', () => {
    const cases: Array<[string, string | RegExp]> = [
      ['empty', 'empty file'],
      ['text', 'not a SQLite database'],
      ['telethon_json', 'not a SQLite database'],
      ['half', /^truncated file \(\d+ of \d+ bytes\)$/],
      ['header_only', /^truncated file/],
      ['odd_size', /^truncated file/],
      ['garbled', /^corrupt SQLite database|^not a SQLite database|^SQLite error/],
      ['other', 'unknown schema (no version table)'],
      ['tl_norow', 'no session row (sessions table is empty)'],
      ['py_norow', 'no session row (sessions table is empty)'],
      ['tl_key128', 'auth key is 128 bytes, expected 256'],
      ['tl_keynull', 'no auth key (NULL)'],
      ['tl_keyempty', 'no auth key (empty; logged out or never logged in)'],
      ['py_keynull', 'no auth key (NULL)'],
      ['tl_v9', 'unknown schema (Telethon session version 9)'],
      ['missing', 'cannot read file (ENOENT)'],
      ['dir', 'not a file (directory)'],
    ];
    for (const [name, reason] of cases) {
      it(`${name}: ${String(reason)}`, async () => {
        const info = await read(name, DEFAULT_PROXY);
        if (typeof reason === 'string') assert.equal(info.fileError, reason);
        else assert.match(info.fileError ?? '', reason);
        assert.equal(info.meta.sessionString, undefined);
      });
    }
    it('keeps format and dcId when the key is the problem', async () => {
      const info = await read('tl_key128');
      assert.equal(info.meta.format, 'telethon');
      assert.equal(info.meta.dcId, 2);
    });
    it('reports session and sidecar problems together', async () => {
      const info = await read('both_broken');
      assert.match(info.fileError ?? '', /^auth key is 128 bytes, expected 256; sidecar JSON: /);
    });
  });

  describe('sidecar', () => {
    it('strips every secret from account, keeps the rest', async () => {
      const info = await read('sc_secrets');
      assert.equal(info.fileError, undefined);
      assert.deepEqual(info.meta.account, {
        app_id: 2040,
        app_hash: 'b18441a1ff607e10a989891a5462e627',
        device: 'Pixel 7',
        sdk: 'SDK 33',
        app_version: '10.3.2',
        lang_pack: 'en',
        system_lang_pack: 'en-US',
        phone: '15550001111',
        user_id: 999001,
        extra: { hint: 'kept' },
      });
      const { sessionString: _s, proxy: _p, ...rest } = info.meta;
      assert.doesNotMatch(JSON.stringify(rest), /S3CRET|AAAAAAAAAA/);
      assert.deepEqual(info.meta.proxy, {
        type: 'socks5',
        host: '1.2.3.4',
        port: 1080,
        username: 'pu',
        password: 'S3CRET-proxy-pass',
        rdns: true,
      });
    });

    const proxies: Array<[string, Proxy]> = [
      ['sc_list_num', { type: 'socks5', host: 'p.example', port: 1081, username: 'u', password: 'p', rdns: false }],
      ['sc_list_http', { type: 'http', host: '10.0.0.1', port: 8080, username: null, password: null }],
      ['sc_list_socks4', { type: 'socks4', host: '10.0.0.1', port: 1080, username: null, password: null, rdns: true }],
      ['sc_obj', { type: 'socks5', host: '5.6.7.8', port: 1082, username: 'uu', password: 'pp', rdns: true }],
      ['sc_obj_alt', { type: 'http', host: 'proxy.local', port: 3128, username: 'l', password: 'w' }],
      ['sc_obj_ip', { type: 'socks5', host: '9.9.9.9', port: 9050, username: null, password: null }],
      ['sc_url', { type: 'socks5', host: 'host.example', port: 1080, username: 'us@er', password: 'p:ss/' }],
    ];
    for (const [name, proxy] of proxies) {
      it(`normalises the proxy of ${name}, overriding the default`, async () => {
        const info = await read(name, DEFAULT_PROXY);
        assert.equal(info.fileError, undefined);
        assert.deepEqual(info.meta.proxy, proxy);
      });
    }

    it('falls back to the default proxy (no sidecar, no proxy key, proxy: null)', async () => {
      for (const name of ['tl_self', 'sc_no_proxy', 'sc_null_proxy']) {
        const info = await read(name, DEFAULT_PROXY);
        assert.deepEqual(info.meta.proxy, DEFAULT_PROXY, name);
        assert.notEqual(info.meta.proxy, DEFAULT_PROXY, 'a copy, not the shared object');
      }
      assert.equal((await read('tl_self', null)).meta.proxy, null);
    });

    it('flags an unparseable proxy without echoing its password', async () => {
      const port = await read('sc_bad_port', DEFAULT_PROXY);
      assert.equal(port.fileError, "sidecar proxy: proxy port must be an integer 1..65535 (got '70000')");
      assert.equal(port.meta.proxy, null);
      assert.ok(port.meta.sessionString, 'the key itself is still readable');
      const type = await read('sc_bad_type');
      assert.match(type.fileError ?? '', /^sidecar proxy: unknown proxy type 'ftp'/);
    });

    it('flags malformed JSON without echoing its content', async () => {
      for (const name of ['sc_malformed', 'sc_garbage']) {
        const info = await read(name);
        assert.match(info.fileError ?? '', /^sidecar JSON: /, name);
        assert.doesNotMatch(info.fileError ?? '', /hunter2/, name);
      }
      assert.equal((await read('sc_array')).fileError, 'sidecar JSON: not an object');
    });

    it('accepts a UTF-8 BOM', async () => {
      const info = await read('sc_bom');
      assert.equal(info.fileError, undefined);
      assert.deepEqual(info.meta.account, { device: 'bom' });
    });
  });

  it('leaves the files untouched: bytes, mtime, and no journal/WAL files', async () => {
    const names = readdirSync(dir).filter((n) => n.endsWith('.session') && n !== 'dir.session');
    const snapshot = () =>
      names.map((n) => {
        const p = path.join(dir, n);
        const st = statSync(p);
        return [n, st.size, st.mtimeMs, createHash('sha256').update(readFileSync(p)).digest('hex')];
      });
    // A file whose mtime is far in the past makes any write visible.
    copyFileSync(path.join(dir, 'tl_wal.session'), path.join(dir, 'old.session'));
    utimesSync(path.join(dir, 'old.session'), new Date('2001-01-01'), new Date('2001-01-01'));
    names.push('old.session');
    const listing = readdirSync(dir).sort();
    const before = snapshot();
    for (const n of names) await read(n.slice(0, -'.session'.length));
    assert.deepEqual(snapshot(), before);
    assert.deepEqual(readdirSync(dir).sort(), listing);
  });
});
