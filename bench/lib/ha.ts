/**
 * Redis high availability in numbers (issue 13 item 5), on 127.0.0.1 only:
 *
 * a) what TELEGATE_REDIS_WAIT_REPLICAS=1 costs: acquire → release cycles
 *    against one TeleGate replica with WAIT 0 and one with WAIT 1, on the same
 *    Sentinel-managed master with one replica, measured interleaved
 *    (0, 1, 0, 1...) so that noise on the shared machine hits both alike;
 * b) the unavailability window of a Sentinel failover under cycling load with
 *    WAIT 1: the master is killed with SIGKILL, Sentinel promotes the replica,
 *    and the killed master comes back on its port as a replica of the new one
 *    (as Kubernetes restarts a pod). With WAIT 1 the new master cannot answer
 *    a change until it has a replica again, so the window ends when the
 *    returned node is in sync, not at the promotion.
 *
 * The Redis processes come from support/ha.ts (the failover test's own
 * set-up), with AOF as deployed; the load is bench/lib/load.ts's runCycles.
 */
import os from 'node:os';
import { SentinelSet, replicasOnline } from '../../support/ha';
import { sleep, until } from '../../support/poll';
import { runCycles, type CyclesResult, type ReplyEvent, type Window } from './load';
import { httpJson, type ServiceProc } from './procs';
import type { FailoverResult, HaResult, Measured, WaitRun } from './results';

export interface HaPlan {
  concurrency: number[];
  /** (WAIT 0, WAIT 1) pairs per concurrency. */
  rounds: number;
  warmupMs: number;
  durationMs: number;
  failover: { concurrency: number; beforeMs: number; windowMs: number };
}

export interface HaDeps {
  /** A TeleGate replica with these variables (Redis from them), its pool synced and warmed up. */
  startTeleGate(name: string, prefix: string, env: Record<string, string>): Promise<ServiceProc>;
  measured<T>(pids: Record<string, number>, run: (w: Pick<Window, 'onStart' | 'onEnd'>) => Promise<T>): Promise<Measured<T>>;
  log(msg: string): void;
  fmt(r: CyclesResult): string;
  apiKey: string;
}

/** As k8s/base/redis-statefulset.yaml runs Redis (and the Bitnami chart's default). */
const AOF_AS_DEPLOYED = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'];
/** TeleGate's default TELEGATE_REDIS_WAIT_TIMEOUT_MS (src/config.ts); the replicas run with it. */
const WAIT_TIMEOUT_MS = 500;

const loadavg = (): number[] => os.loadavg().map((v) => Math.round(v * 100) / 100);

export async function measureHa(plan: HaPlan, deps: HaDeps): Promise<HaResult> {
  const loadavgStart = loadavg();
  const set = await SentinelSet.start({ serverArgs: AOF_AS_DEPLOYED });
  // The set's processes are not the bench's Children: kill them too if the run is aborted.
  const killNow = (): void => {
    for (const pid of set.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killNow);
  const services: ServiceProc[] = [];
  try {
    const base = { REDIS_SENTINELS: set.env, TELEGATE_REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS) };
    // Separate key prefixes: two pools on one master, each replica its own leader.
    for (const wait of [0, 1]) services.push(await deps.startTeleGate(`telegate-wait${wait}`, `wait${wait}`, { ...base, TELEGATE_REDIS_WAIT_REPLICAS: String(wait) }));
    const waitRuns: WaitRun[] = [];
    for (const c of plan.concurrency) {
      for (let round = 1; round <= plan.rounds; round++) {
        for (const wait of [0, 1]) {
          const svc = services[wait]!;
          const run = await deps.measured({ client: process.pid, service: svc.child.pid, master: set.master.pid, replica: set.replica.pid }, (hooks) =>
            runCycles({ ports: [svc.port], apiKey: deps.apiKey, concurrency: c, warmupMs: plan.warmupMs, durationMs: plan.durationMs, ...hooks }),
          );
          waitRuns.push({ wait, round, run });
          deps.log(`  WAIT ${wait} round ${round}: ${deps.fmt(run.result)}`);
        }
      }
    }
    await services[0]!.stop();
    const failover = await failoverUnderLoad(plan.failover, set, services[1]!, deps);
    return { setup: setupText(), waitTimeoutMs: WAIT_TIMEOUT_MS, loadavgStart, loadavgEnd: loadavg(), waitRuns, failover };
  } finally {
    for (const s of services) await s.stop();
    await set.stop();
    process.off('exit', killNow);
  }
}

function setupText(): string {
  return (
    'redis-server master + 1 replica (AOF, appendfsync everysec, noeviction) and 3 Sentinels (quorum 2, down-after-milliseconds 1000, ' +
    'failover-timeout 4000) on loopback; one TeleGate replica per WAIT setting with REDIS_SENTINELS'
  );
}

/** The answer's error code ("store_unavailable"), if it is a JSON error body. */
function errorCode(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString()) as { detail?: { error?: unknown } };
    return typeof j.detail?.error === 'string' ? j.detail.error : undefined;
  } catch {
    return undefined;
  }
}

async function failoverUnderLoad(plan: HaPlan['failover'], set: SentinelSet, svc: ServiceProc, deps: HaDeps): Promise<FailoverResult> {
  const events: ReplyEvent[] = [];
  const marks = { killed: 0, promoted: 0, returned: 0, returnedOnline: 0 };
  const load = deps.measured({ client: process.pid, service: svc.child.pid, 'new master': set.replica.pid }, (hooks) =>
    runCycles({ ports: [svc.port], apiKey: deps.apiKey, concurrency: plan.concurrency, warmupMs: 0, durationMs: plan.windowMs, onReply: (e) => events.push(e), ...hooks }),
  );
  const crash = (async (): Promise<void> => {
    await sleep(plan.beforeMs); // the load's schedule: this long of normal cycling first
    marks.killed = performance.now();
    await set.master.kill('SIGKILL');
    await until(async () => (await set.masterPort()) === set.replica.port, 'Sentinel to promote the replica', plan.windowMs, 50);
    marks.promoted = performance.now();
    await set.restartAsReplica();
    marks.returned = performance.now();
    await replicasOnline(set.replica.url, 1, plan.windowMs);
    marks.returnedOnline = performance.now();
  })();
  const [run, crashed] = await Promise.allSettled([load, crash]);
  if (crashed.status === 'rejected') throw crashed.reason;
  if (run.status === 'rejected') throw run.reason;
  const status = await httpJson(svc.port, 'GET', '/status', { 'X-API-Key': deps.apiKey });
  const leasedToNobody = status.status === 200 ? (status.body as { in_use: number }).in_use : -1;

  const rel = (t: number): number => Math.round(t - marks.killed);
  const failures: Record<string, number> = {};
  let first: ReplyEvent | undefined;
  let last: ReplyEvent | undefined;
  let slowest: ReplyEvent | undefined;
  for (const e of events) {
    if (!slowest || e.at - e.sentAt > slowest.at - slowest.sentAt) slowest = e;
    if (e.status === 200) continue;
    const kind = `${e.op} ${e.status === 0 ? 'no answer' : `${e.status} ${errorCode(e.body) ?? ''}`.trim()}`;
    failures[kind] = (failures[kind] ?? 0) + 1;
    first ??= e;
    last = e;
  }
  const ok = events.filter((e) => e.status === 200);
  const released = (from: number, to: number): number => ok.filter((e) => e.op === 'release' && e.at >= from && e.at < to).length;
  const start = events[0]?.sentAt ?? marks.killed;
  const end = events.at(-1)?.at ?? marks.killed;
  const backFrom = (last?.at ?? marks.returnedOnline) + 1000;
  const perSec = (count: number, ms: number): number => (ms > 0 ? Math.round((count * 1000) / ms) : 0);
  const result: FailoverResult = {
    concurrency: plan.concurrency,
    waitReplicas: 1,
    beforeMs: plan.beforeMs,
    windowMs: plan.windowMs,
    promotedMs: rel(marks.promoted),
    returnedMs: rel(marks.returned),
    returnedOnlineMs: rel(marks.returnedOnline),
    firstFailureMs: first ? rel(first.at) : null,
    lastFailureMs: last ? rel(last.at) : null,
    firstSuccessAfterPromotionMs: ((e) => (e ? rel(e.at) : null))(ok.find((e) => e.sentAt >= marks.promoted)),
    successesInWindow: first && last ? ok.filter((e) => e.at > first.at && e.at < last.at).length : 0,
    failures,
    slowestMs: slowest ? Math.round(slowest.at - slowest.sentAt) : 0,
    slowestSentMs: slowest ? rel(slowest.sentAt) : 0,
    cyclesPerSecBefore: perSec(released(start, marks.killed), marks.killed - start),
    cyclesPerSecAfter: perSec(released(backFrom, end), end - backFrom),
    leasedToNobody,
    run: run.value,
  };
  deps.log(
    `  failover: promoted +${result.promotedMs} ms, old master back in sync +${result.returnedOnlineMs} ms; failures from +${String(result.firstFailureMs)} to +${String(result.lastFailureMs)} ms ` +
      `${JSON.stringify(failures)}; first success after the promotion +${String(result.firstSuccessAfterPromotionMs)} ms; slowest answer ${result.slowestMs} ms; ` +
      `double issues ${run.value.result.doubleIssues}; ${result.cyclesPerSecBefore} → ${result.cyclesPerSecAfter} cycles/s`,
  );
  return result;
}
