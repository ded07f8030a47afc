/**
 * A real TeleGate process for client tests: `node dist/main.js` (embedded
 * in-memory store) on a free loopback port (support/replica.ts), with real
 * Telethon session files from the one fixture writer (support/sessions.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { until } from '../../support/poll';
import { Replica } from '../../support/replica';
import { addSession } from '../../support/sessions';

/** `n` Telethon v7 session files s1..sN (each an account of its own) in `dir`; returns their names. */
function makeSessions(dir: string, n: number): string[] {
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: n }, (_, i) => `s${i + 1}`);
  for (const name of names) addSession(dir, name);
  return names;
}

export interface ListedSession {
  session_id: number;
  session_name: string;
  state: string;
  reason: string | null;
  floodwait_until: string | null;
  rests?: Record<string, string>;
}

export interface ServerOptions {
  sessions?: number;
  leaseTtlSeconds?: number;
  /** Separate admin key (worker keys then get 403 on /invalidate, /restore, /sessions). */
  adminKeys?: boolean;
}

export class TeleGateServer {
  readonly apiKey = `worker-${randomBytes(8).toString('hex')}`;
  readonly adminKey: string;
  readonly n: number;
  url = '';
  names: string[] = [];
  private replica: Replica | undefined;
  private dir = '';

  constructor(private readonly opts: ServerOptions = {}) {
    this.n = opts.sessions ?? 3;
    this.adminKey = opts.adminKeys ? `admin-${randomBytes(8).toString('hex')}` : this.apiKey;
  }

  static async start(opts: ServerOptions = {}): Promise<TeleGateServer> {
    const s = new TeleGateServer(opts);
    try {
      await s.spawn();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  private async spawn(): Promise<void> {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-tsclient-'));
    const sessionsDir = path.join(this.dir, 'sessions');
    this.names = makeSessions(sessionsDir, this.n);
    const env: Record<string, string> = {
      TELEGATE_API_KEYS: this.adminKey === this.apiKey ? this.apiKey : `${this.apiKey},${this.adminKey}`,
      TELEGATE_SESSIONS_DIR: sessionsDir,
      TELEGATE_LEASE_TTL_SECONDS: String(this.opts.leaseTtlSeconds ?? 3600),
      TELEGATE_REAPER_INTERVAL_MS: '200',
    };
    if (this.adminKey !== this.apiKey) env.TELEGATE_ADMIN_KEYS = this.adminKey;
    this.replica = await Replica.start(env, '/healthz');
    this.url = this.replica.url;
    await until(async () => (await this.status()).total === this.n, 'the start-up sync', 20_000);
  }

  private async call<T>(method: string, p: string, key: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + p, {
      method,
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(data)}`);
    return data;
  }

  status(): Promise<{ total: number; free: number; in_use: number; in_floodwait: number }> {
    return this.call('GET', '/status', this.apiKey);
  }

  async sessions(): Promise<Map<number, ListedSession>> {
    const page = await this.call<{ sessions: ListedSession[] }>('GET', '/sessions?limit=1000', this.adminKey);
    return new Map(page.sessions.map((s) => [s.session_id, s]));
  }

  async stateOf(id: number): Promise<string | undefined> {
    return (await this.sessions()).get(id)?.state;
  }

  /** Every session back to free (admin). */
  async reset(): Promise<void> {
    for (const s of (await this.sessions()).values()) {
      if (s.state === 'floodwait' || s.state === 'invalidated') await this.call('POST', '/restore', this.adminKey, { session_id: s.session_id });
      else if (s.state === 'in_use') await this.call('POST', '/release', this.adminKey, { session_id: s.session_id });
    }
    await until(async () => (await this.status()).free === this.n, 'all sessions free', 5000);
  }

  async stop(): Promise<void> {
    await this.replica?.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
