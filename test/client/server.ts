/**
 * A real TeleGate process for client tests: `node dist/main.js` (embedded
 * in-memory store) on a free loopback port, with real Telethon session files
 * written by the Python client's test support (one fixture for both clients).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/redis';

export const REPO = path.resolve(__dirname, '..', '..');
export const MAIN_JS = path.join(REPO, 'dist', 'main.js');
const SUPPORT_PY = path.join(REPO, 'clients', 'python', 'tests', 'support.py');

export { freePort };

/** Poll `predicate` until it returns a truthy value, or throw after `timeoutMs`. */
export async function waitUntil<T>(predicate: () => T | Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await predicate();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

/** `n` Telethon v7 session files s1..sN in `dir`; returns their names. */
export function makeSessions(dir: string, n: number): string[] {
  const r = spawnSync('python3', [SUPPORT_PY, 'make-sessions', dir, String(n)], { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`python3 is needed to write the session-file fixtures: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`support.py make-sessions failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
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
  private proc: ChildProcess | undefined;
  private dir = '';
  private output = '';

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
    if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} not found: build the server first (npm run build)`);
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-tsclient-'));
    const sessionsDir = path.join(this.dir, 'sessions');
    this.names = makeSessions(sessionsDir, this.n);
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TELEGATE_') && k !== 'REDIS_URL') env[k] = v;
    Object.assign(env, {
      PORT: String(port),
      TELEGATE_API_KEYS: this.adminKey === this.apiKey ? this.apiKey : `${this.apiKey},${this.adminKey}`,
      TELEGATE_SESSIONS_DIR: sessionsDir,
      TELEGATE_LEASE_TTL_SECONDS: String(this.opts.leaseTtlSeconds ?? 3600),
      TELEGATE_REAPER_INTERVAL_MS: '200',
      LOG_LEVEL: 'warn',
    });
    if (this.adminKey !== this.apiKey) env.TELEGATE_ADMIN_KEYS = this.adminKey;
    const proc = spawn(process.execPath, [MAIN_JS], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (b: Buffer): void => {
      this.output = (this.output + b.toString()).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const alive = (): void => {
      if (proc.exitCode !== null) throw new Error(`telegate exited with ${proc.exitCode}:\n${this.output}`);
    };
    await waitUntil(async () => (alive(), (await fetch(`${this.url}/healthz`)).status === 200), 20_000, '/healthz');
    await waitUntil(async () => (alive(), (await this.status()).total === this.n), 20_000, 'the start-up sync');
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
    await waitUntil(async () => (await this.status()).free === this.n, 5000, 'all sessions free');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
