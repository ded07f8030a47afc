/**
 * Proxy specs as they appear next to session files (sidecar JSON) and in
 * TELEGATE_DEFAULT_PROXY, normalised to the pool's `Proxy`.
 *
 * Accepted shapes:
 * - URL string: `socks5://user:pass@host:port` (credentials percent-decoded;
 *   `socks5h`/`socks4a` mean remote DNS, i.e. `rdns: true`);
 * - Telethon tuple: `[type, host, port, rdns?, username?, password?]`, where
 *   `type` is a name or a python-socks / PySocks constant (SOCKS4=1, SOCKS5=2, HTTP=3);
 * - object: `type|scheme|proxy_type|protocol`, `host|addr|hostname|ip|server`,
 *   `port`, `username|user|login`, `password|pass`, `rdns`.
 * `null`, `false`, `''`, `[]` and `{}` mean "no proxy" (null).
 *
 * Error messages never contain a password.
 */
import type { Proxy } from '../pool/types';

export class ProxyFormatError extends Error {
  override readonly name = 'ProxyFormatError';
}

/** python-socks `ProxyType` and PySocks constants share these values. */
const NUMERIC_TYPES: Readonly<Record<number, string>> = { 1: 'socks4', 2: 'socks5', 3: 'http' };

/** Accepted type names → [type, rdns implied by the name]. */
const TYPE_ALIASES: Readonly<Record<string, readonly [string, boolean | undefined]>> = {
  socks5: ['socks5', undefined],
  socks5h: ['socks5', true],
  socks4: ['socks4', undefined],
  socks4a: ['socks4', true],
  http: ['http', undefined],
  mtproto: ['mtproto', undefined],
  mtproxy: ['mtproto', undefined],
};

function normaliseType(raw: unknown): [string, boolean | undefined] {
  if (typeof raw === 'number' || (typeof raw === 'string' && /^\s*\d+\s*$/.test(raw))) {
    const name = NUMERIC_TYPES[Number(raw)];
    if (name === undefined) {
      throw new ProxyFormatError(`unknown proxy type ${String(raw).trim()} (numeric types: 1=socks4, 2=socks5, 3=http)`);
    }
    return [name, undefined];
  }
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new ProxyFormatError('proxy type is missing');
  }
  // str(python_socks.ProxyType.SOCKS5) is 'ProxyType.SOCKS5'
  const name = raw.trim().toLowerCase().replace(/^proxytype\./, '');
  const hit = TYPE_ALIASES[name];
  if (hit === undefined) {
    throw new ProxyFormatError(`unknown proxy type '${raw.trim()}' (expected socks5, socks4, http or mtproto)`);
  }
  return [hit[0], hit[1]];
}

function normaliseHost(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new ProxyFormatError('proxy host is missing');
  }
  let host = raw.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /[\s/@?#[\]]/.test(host)) {
    throw new ProxyFormatError(`invalid proxy host '${host}'`);
  }
  return host;
}

function normalisePort(raw: unknown): number {
  let port: number | undefined;
  if (typeof raw === 'number') port = raw;
  else if (typeof raw === 'string' && /^\s*\d{1,5}\s*$/.test(raw)) port = Number(raw);
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    const shown =
      raw === undefined || raw === null || raw === ''
        ? 'missing'
        : typeof raw === 'string' || typeof raw === 'number'
          ? `'${raw}'`
          : `a ${typeof raw}`;
    throw new ProxyFormatError(`proxy port must be an integer 1..65535 (got ${shown})`);
  }
  return port;
}

function normaliseCredential(raw: unknown, what: 'username' | 'password'): string | null {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  throw new ProxyFormatError(`proxy ${what} must be a string`);
}

function normaliseRdns(raw: unknown): boolean | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'boolean') return raw;
  if (raw === 0 || raw === 1) return raw === 1;
  throw new ProxyFormatError('proxy rdns must be a boolean');
}

function build(
  typeRaw: unknown,
  hostRaw: unknown,
  portRaw: unknown,
  usernameRaw: unknown,
  passwordRaw: unknown,
  rdnsRaw: unknown,
): Proxy {
  const [type, impliedRdns] = normaliseType(typeRaw);
  const proxy: Proxy = {
    type,
    host: normaliseHost(hostRaw),
    port: normalisePort(portRaw),
    username: normaliseCredential(usernameRaw, 'username'),
    password: normaliseCredential(passwordRaw, 'password'),
  };
  const rdns = normaliseRdns(rdnsRaw) ?? impliedRdns;
  if (rdns !== undefined) proxy.rdns = rdns;
  return proxy;
}

function pick(obj: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const k of keys) {
    if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  }
  return undefined;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ProxyFormatError(`proxy URL has a malformed percent-encoded ${what}`);
  }
}

/**
 * Parse `scheme://[user[:pass]@]host:port[/]`. The port is required (no
 * scheme defaults); IPv6 hosts go in brackets. Throws ProxyFormatError.
 */
export function parseProxyUrl(url: string): Proxy {
  if (typeof url !== 'string') throw new ProxyFormatError('proxy URL must be a string');
  const text = url.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(text);
  if (m === null) {
    throw new ProxyFormatError('proxy URL must look like scheme://[user:pass@]host:port');
  }
  const scheme = m[1] ?? '';
  let rest = m[2] ?? '';
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  // Split credentials at the last '@' so an unencoded '@' in a password still parses.
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : null;
  const hostport = at >= 0 ? rest.slice(at + 1) : rest;
  if (/[/?#]/.test(hostport)) {
    throw new ProxyFormatError('proxy URL must not have a path, query or fragment');
  }
  let username: string | null = null;
  let password: string | null = null;
  if (userinfo !== null) {
    const colon = userinfo.indexOf(':');
    username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'username');
    password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'password') : null;
  }
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostport);
  if (v6 !== null) {
    host = v6[1] ?? '';
    port = v6[2];
  } else {
    const colon = hostport.lastIndexOf(':');
    host = colon >= 0 ? hostport.slice(0, colon) : hostport;
    port = colon >= 0 ? hostport.slice(colon + 1) : undefined;
  }
  if (host.includes(':') && v6 === null) {
    throw new ProxyFormatError('IPv6 proxy hosts must be written in brackets: scheme://[::1]:1080');
  }
  if (port === undefined || port === '') {
    throw new ProxyFormatError(`proxy URL has no port: ${scheme}://${host}:<port> expected`);
  }
  if (!/^\d+$/.test(port)) throw new ProxyFormatError(`proxy port must be an integer 1..65535 (got '${port}')`);
  return build(scheme, host === '' ? undefined : host, port, username, password, undefined);
}

/**
 * Normalise any accepted proxy shape to `Proxy`, or null for "no proxy".
 * Throws ProxyFormatError with a clear message on anything else.
 */
export function normalizeProxy(input: unknown): Proxy | null {
  if (input === undefined || input === null || input === false) return null;
  if (typeof input === 'string') {
    return input.trim() === '' ? null : parseProxyUrl(input);
  }
  if (Array.isArray(input)) {
    if (input.length === 0) return null;
    if (input.length < 3) {
      throw new ProxyFormatError('proxy list must be [type, host, port, rdns?, username?, password?]');
    }
    const [type, host, port, rdns, username, password] = input as unknown[];
    return build(type, host, port, username, password, rdns);
  }
  if (typeof input === 'object') {
    const obj = input as Record<string, unknown>;
    if (Object.keys(obj).length === 0) return null;
    if (obj.secret !== undefined && obj.secret !== null) {
      throw new ProxyFormatError('MTProto proxy secrets are not supported (Proxy has no secret field)');
    }
    return build(
      pick(obj, ['type', 'scheme', 'proxy_type', 'protocol']),
      pick(obj, ['host', 'addr', 'hostname', 'ip', 'server']),
      obj.port,
      pick(obj, ['username', 'user', 'login']),
      pick(obj, ['password', 'pass']),
      obj.rdns,
    );
  }
  throw new ProxyFormatError(`proxy must be a URL string, a list or an object (got ${typeof input})`);
}

/** A copy with the password replaced by '***' (for listings and logs). */
export function maskProxy(p: Proxy | null): Proxy | null {
  if (p === null) return null;
  const masked: Proxy = { ...p };
  if (p.password !== undefined && p.password !== null && p.password !== '') masked.password = '***';
  return masked;
}
