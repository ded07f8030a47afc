/**
 * Real redis-server processes for tests and the bench: started on a free
 * loopback port, never the developer's 6379, never an already-running server.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { sleep } from './poll';
import { freePort } from './ports';

export const INSTALL_HINT =
  'redis-server not found: install it with `apt-get install -y redis-server` (Debian/Ubuntu) and re-run the tests';

export function assertRedisInstalled(): void {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(INSTALL_HINT);
  }
}

export interface RedisServerOptions {
  port?: number;
  /** AOF on (with fsync always) so a restart keeps every acknowledged write. */
  appendonly?: boolean;
  /** Data directory; a fresh temp dir by default. Reuse it to restart on the same data. */
  dir?: string;
  /** More redis-server arguments, e.g. ['--maxmemory-policy', 'allkeys-lru'] (a later value of a setting wins). */
  args?: string[];
  /** Start the process through this (the bench's process registry, which kills it on abort); node's spawn by default. */
  spawn?: Spawner;
}

/** How a redis-server process is started: stderr must be a pipe. */
export type Spawner = (cmd: string, args: string[]) => ChildProcess;

const plainSpawn: Spawner = (cmd, args) => spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });

export class RedisServer {
  readonly url: string;
  private proc: ChildProcess | undefined;
  private ownsDir: boolean;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly appendonly: boolean,
    ownsDir: boolean,
    private readonly extraArgs: string[] = [],
    private readonly spawner: Spawner = plainSpawn,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.ownsDir = ownsDir;
  }

  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    assertRedisInstalled();
    const port = opts.port ?? (await freePort());
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'telegate-redis-'));
    const server = new RedisServer(port, dir, opts.appendonly ?? false, ownsDir, opts.args, opts.spawn);
    await server.spawn();
    return server;
  }

  /** The server's process id (to SIGSTOP/SIGCONT it: a stall, not a crash). */
  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Start the process again on the same port and data directory. */
  async spawn(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--dir', this.dir,
      '--appendonly', this.appendonly ? 'yes' : 'no',
      '--appendfsync', 'always',
      '--protected-mode', 'no',
      '--loglevel', 'warning',
      ...this.extraArgs,
    ];
    const proc = this.spawner('redis-server', args);
    this.proc = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.running) throw new Error(`redis-server exited at start: ${stderr.trim()}`);
      if (await this.ping()) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING within 10 s`);
      await sleep(50);
    }
  }

  private async ping(): Promise<boolean> {
    const c = new Redis(this.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  /** Freeze (SIGSTOP) or thaw (SIGCONT) the process: a stalled Redis (long fork, failover pause). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.proc || !this.running) throw new Error('redis-server is not running');
    this.proc.kill(signal);
  }

  /** Stop the process (SIGKILL by default: a crash). Resolves when it has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
      proc.kill('SIGCONT'); // a stopped process acts on SIGTERM only once it runs again
    });
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A test client that fails fast instead of queueing while Redis is away. */
export async function testClient(url: string): Promise<Redis> {
  const c = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (err) {
    c.disconnect(); // else it retries in the background for ever and keeps the process alive
    throw err;
  }
  return c;
}
