/**
 * Redis high-availability set-ups from real processes on free loopback ports:
 * a master with a replica watched by three Sentinels (tuned so a failover takes
 * a few seconds), and a three-master Redis Cluster.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Redis from 'ioredis';
import { until } from './poll';
import { freePort } from './ports';
import { RedisServer, testClient } from './redis';

const execFileP = promisify(execFile);

/** Run `fn` with a short-lived fail-fast client; null when the server does not answer. */
async function withClient<T>(url: string, fn: (c: Redis) => Promise<T>): Promise<T | null> {
  let c: Redis | undefined;
  try {
    c = await testClient(url);
    return await fn(c);
  } catch {
    return null;
  } finally {
    c?.disconnect();
  }
}

/** Until `master` counts `n` replicas online. */
export async function replicasOnline(masterUrl: string, n: number, timeoutMs = 20_000): Promise<void> {
  await until(
    async () => {
      const info = await withClient(masterUrl, (c) => c.info('replication'));
      return info !== null && /role:master/.test(info) && (info.match(/slave\d+:.*state=online/g)?.length ?? 0) >= n;
    },
    `${n} replica(s) online at ${masterUrl}`,
    timeoutMs,
  );
}

export class SentinelSet {
  /** The first master once it came back as a replica (restartAsReplica). */
  private returned: RedisServer | undefined;

  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly ports: number[],
    private readonly procs: ChildProcess[],
    private readonly dir: string,
    readonly name: string,
    private readonly serverArgs: string[],
  ) {}

  /** `REDIS_SENTINELS` for TeleGate. */
  get env(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  /**
   * A master, one replica and three Sentinels (quorum 2). down-after 1 s and a
   * short failover timeout: a master killed with SIGKILL is replaced in a few seconds.
   * `serverArgs` go to both data nodes (and to the first master when it returns),
   * e.g. the bench's AOF settings as deployed.
   */
  static async start(opts: { name?: string; serverArgs?: string[] } = {}): Promise<SentinelSet> {
    const name = opts.name ?? 'mymaster';
    const serverArgs = opts.serverArgs ?? [];
    const master = await RedisServer.start({ args: serverArgs });
    const replica = await RedisServer.start({ args: [...serverArgs, '--replicaof', '127.0.0.1', String(master.port)] });
    await replicasOnline(master.url, 1);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-sentinel-'));
    const ports: number[] = [];
    const procs: ChildProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its own config file: it must be writable and its own.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          'loglevel warning',
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 4000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      ports.push(port);
      procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    }
    const set = new SentinelSet(master, replica, ports, procs, dir, name, serverArgs);
    // Ready when every Sentinel knows the replica and the two other Sentinels (needed to elect a failover leader).
    for (const port of ports) {
      await until(
        async () =>
          (await withClient(`redis://127.0.0.1:${port}`, async (c) => {
            const replicas = (await c.call('SENTINEL', 'REPLICAS', name)) as unknown[];
            const others = (await c.call('SENTINEL', 'SENTINELS', name)) as unknown[];
            return replicas.length >= 1 && others.length >= 2;
          })) === true,
        `Sentinel ${port} to see the replica and its peers`,
        30_000,
      );
    }
    return set;
  }

  /** The master's port as the first answering Sentinel reports it. */
  async masterPort(): Promise<number | null> {
    for (const port of this.ports) {
      const addr = await withClient(`redis://127.0.0.1:${port}`, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name));
      if (Array.isArray(addr) && addr.length === 2) return Number(addr[1]);
    }
    return null;
  }

  /** The server (of the two) that currently is the master according to the Sentinels. */
  async currentMaster(): Promise<RedisServer> {
    const port = await this.masterPort();
    const server = [this.master, this.replica].find((s) => s.port === port);
    if (!server) throw new Error(`Sentinels report master port ${String(port)}, not one of ours`);
    return server;
  }

  /**
   * Bring the killed first master back on its port as a replica of the current
   * master, as the Bitnami chart's start script does (it asks the Sentinels
   * first). Sentinel alone would convert a returning master only at its next
   * 10-second INFO round.
   */
  async restartAsReplica(): Promise<RedisServer> {
    const port = await this.masterPort();
    if (port === null) throw new Error('no Sentinel answers');
    this.returned = await RedisServer.start({ port: this.master.port, args: [...this.serverArgs, '--replicaof', '127.0.0.1', String(port)] });
    return this.returned;
  }

  /** Every live process of the set (for a synchronous SIGKILL from an exit handler). */
  pids(): number[] {
    const servers = [this.master, this.replica, this.returned].filter((s): s is RedisServer => s?.running === true).map((s) => s.pid);
    return [...servers, ...this.procs.flatMap((p) => (p.exitCode === null && p.signalCode === null && p.pid !== undefined ? [p.pid] : []))];
  }

  /**
   * SIGKILL, not SIGTERM, for the data nodes: a node that has just finished a
   * full sync with AOF on refuses a SIGTERM ("Writing initial AOF, can't exit")
   * and would never exit.
   */
  async stop(): Promise<void> {
    for (const s of [this.returned, this.master, this.replica]) await s?.kill('SIGKILL');
    await this.returned?.stop();
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    await this.master.stop();
    await this.replica.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class RedisClusterSet {
  private constructor(readonly nodes: RedisServer[]) {}

  /** `REDIS_CLUSTER_NODES` for TeleGate. */
  get env(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Three masters, no replicas, the 16384 slots split by `redis-cli --cluster create`. */
  static async start(): Promise<RedisClusterSet> {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      nodes.push(await RedisServer.start({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }));
    }
    const set = new RedisClusterSet(nodes);
    try {
      await execFileP('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
      for (const n of nodes) {
        await until(async () => /cluster_state:ok/.test((await withClient(n.url, (c) => c.call('CLUSTER', 'INFO') as Promise<string>)) ?? ''), `cluster state ok on ${n.port}`, 30_000);
      }
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
