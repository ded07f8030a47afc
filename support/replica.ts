/**
 * Real TeleGate processes for multi-process tests: `node dist/main.js` on free
 * ports (`npm test` builds dist/ before mocha runs).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './ports';
import { until } from './poll';

/** GET /session's answer, as the multi-process tests read it. */
export interface ApiLease {
  session_id: number;
  session_name: string;
  lease_token: string;
}

/** One entry of GET /sessions. */
export interface ApiListed {
  session_id: number;
  session_name: string;
  state: string;
  floodwait_until: string | null;
  lease_expires_at: string | null;
  reason: string | null;
  file_missing: boolean;
}

/** The repository's root. */
export const ROOT = path.resolve(__dirname, '..');
export const MAIN = path.join(ROOT, 'dist', 'main.js');

export class Replica {
  readonly url: string;
  output = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly port: number,
    readonly proc: ChildProcess,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  /** Start and wait until `waitFor` answers 200 (/healthz for a replica that is meant to be unready). */
  static async start(env: Record<string, string>, waitFor = '/readyz'): Promise<Replica> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
    const port = await freePort();
    const proc = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = new Replica(port, proc);
    const answers = async (): Promise<boolean> => {
      if (!r.alive) throw new Error(`replica on ${port} exited at start:\n${r.output}`);
      return (await r.fetch(waitFor).catch(() => null))?.status === 200;
    };
    await until(answers, `replica on ${port} to answer ${waitFor}\n${r.output}`, 15_000);
    return r;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  fetch(p: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (init.key) headers.set('X-API-Key', init.key);
    return fetch(this.url + p, { ...init, headers, signal: init.signal ?? AbortSignal.timeout(15_000) });
  }

  /** A call with API key `key` that must answer `expect`: its JSON body. */
  async call(method: string, p: string, key: string, expect: number): Promise<Record<string, unknown>> {
    const r = await this.fetch(p, { method, key });
    const body = (await r.json()) as Record<string, unknown>;
    assert.equal(r.status, expect, `${method} ${p}: ${JSON.stringify(body)}`);
    return body;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.alive) this.proc.kill(signal);
    return this.exited;
  }

  /** A graceful stop (SIGTERM), SIGKILL after graceMs. */
  async stop(graceMs = 10_000): Promise<number | null> {
    const timer = setTimeout(() => void this.kill('SIGKILL'), graceMs);
    try {
      return await this.kill('SIGTERM');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** End of a multi-replica test: the replicas' last output when it failed (mocha's `this.currentTest`), then SIGKILL each. */
export async function stopReplicas(replicas: Replica[], failed: boolean): Promise<void> {
  if (failed) for (const r of replicas) console.error(`--- replica ${r.port} output:\n${r.output.slice(-3000)}`);
  await Promise.all(replicas.map((r) => r.kill('SIGKILL')));
}
