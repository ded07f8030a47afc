/** Redis HA: the throughput cost of TELEGATE_REDIS_WAIT_REPLICAS=1 and a Sentinel failover's window (own Redis processes, bench/lib/ha.ts). */
import { median } from '../../support/stats';
import { API_KEY, fmt, log, measured, serviceEnv, waitForPool, warmUp, type Step } from '../lib/context';
import { measureHa } from '../lib/ha';
import type { CyclesResult } from '../lib/load';
import { cpuCell, errorsOf, f, n, ratio, table } from '../lib/markdown';
import type { Plan } from '../lib/plan';
import { startService } from '../lib/procs';
import { newestRecorded } from '../lib/recorded';
import type { HaResult, Results } from '../lib/results';

function haSource(r: Results, resultsFile: string): { r: Results; ha: HaResult; file: string } | undefined {
  if (r.ha) return { r, ha: r.ha, file: resultsFile };
  const rec = newestRecorded((x) => x.ha);
  return rec && { r: rec.r, ha: rec.value, file: rec.file };
}

/** Redis HA (issue 13 item 5): the throughput cost of WAIT and the unavailability window of a Sentinel failover. */
export function haSection(r: Results, resultsFile: string): string[] {
  const src = haSource(r, resultsFile);
  if (!src) return [];
  const { ha } = src;
  const md: string[] = ['## Redis high availability: the cost of WAIT and the failover window', ''];
  md.push(
    '`TELEGATE_REDIS_WAIT_REPLICAS=1` answers a state change only once a replica holds it, so that a failover cannot lose it (issue 13). ' +
      `Set-up: ${ha.setup}; \`TELEGATE_REDIS_WAIT_TIMEOUT_MS=${ha.waitTimeoutMs}\`; same build, load client and middleware as above.`,
  );
  md.push('');
  if (src.r !== r) {
    md.push(
      `Measured in a separate run (\`npm run bench -- --only ha\`, [\`${src.file}\`](../${src.file})) on ${src.r.date.slice(0, 16).replace('T', ' ')} UTC ` +
        `at commit \`${src.r.machine.gitCommit}\`, not in the run above. Load average (1 min) ${ha.loadavgStart[0]} at the start of the step and ${ha.loadavgEnd[0]} at its end: ` +
        'the machine was shared with other people’s tests (see the "other" CPU column), so compare WAIT 0 with WAIT 1 within a round rather than with the numbers above.',
    );
    md.push('');
  }
  const cs = [...new Set(ha.waitRuns.map((w) => w.run.result.concurrency))];
  const rounds = Math.max(...ha.waitRuns.map((w) => w.round));
  md.push(
    `### Throughput cost of WAIT 1`,
    '',
    `One TeleGate replica with WAIT 0 and one with WAIT 1 on the same master, measured interleaved (0, 1, 0, 1…: ${rounds} round(s) per concurrency); ` +
      'medians over the rounds, and the median of the per-round ratios:',
    '',
  );
  const sum: Array<Array<string | number>> = [];
  for (const c of cs) {
    const of = (wait: number): CyclesResult[] => ha.waitRuns.filter((w) => w.wait === wait && w.run.result.concurrency === c).map((w) => w.run.result);
    const w0 = of(0);
    const w1 = of(1);
    const ratios = w1.map((x, i) => ratio(x.cyclesPerSec, w0[i]?.cyclesPerSec ?? NaN));
    const lat = (l: CyclesResult[]): string => `${f(median(l.map((x) => x.acquire.p50)))} / ${f(median(l.map((x) => x.acquire.p99)))}`;
    sum.push([
      c,
      n(median(w0.map((x) => x.cyclesPerSec))),
      n(median(w1.map((x) => x.cyclesPerSec))),
      `${f(median(ratios) * 100, 0)}% (rounds: ${ratios.map((x) => `${f(x * 100, 0)}%`).join(', ')})`,
      lat(w0),
      lat(w1),
      [...w0, ...w1].reduce((a, x) => a + x.doubleIssues, 0),
    ]);
  }
  md.push(table(['concurrency', 'WAIT 0 cycles/s', 'WAIT 1 cycles/s', 'WAIT 1 / WAIT 0', 'acquire p50 / p99 ms, WAIT 0', 'acquire p50 / p99 ms, WAIT 1', 'double issues'], sum));
  md.push('');
  md.push(
    table(
      ['round', 'concurrency', 'WAIT', 'cycles/s', 'acquire p50 / p99 ms', 'release p50 / p99 ms', 'errors', 'CPU cores used'],
      ha.waitRuns.map((w) => [
        w.round,
        w.run.result.concurrency,
        w.wait,
        n(w.run.result.cyclesPerSec),
        `${f(w.run.result.acquire.p50)} / ${f(w.run.result.acquire.p99)}`,
        `${f(w.run.result.release.p50)} / ${f(w.run.result.release.p99)}`,
        errorsOf(w.run.result),
        cpuCell(w.run),
      ]),
    ),
  );
  md.push('');
  const fo = ha.failover;
  if (fo) {
    const ms = (v: number | null): string => (v === null ? 'n/a' : `+${n(v)} ms`);
    md.push(
      `### Failover window (WAIT ${fo.waitReplicas})`,
      '',
      `${fo.concurrency} clients cycling acquire → release against the WAIT 1 replica for ${f(fo.windowMs / 1000, 0)} s; after ${f(fo.beforeMs / 1000, 0)} s the master is killed with SIGKILL. ` +
        'The killed node is restarted on its port as a replica of the new master as soon as the Sentinels report the promotion (as Kubernetes restarts the pod). Times after the kill:',
      '',
    );
    md.push(
      table(
        ['event', 'when'],
        [
          ['master killed (kill -9)', '0'],
          ['first failed answer', ms(fo.firstFailureMs)],
          ['Sentinels report the replica promoted', ms(fo.promotedMs)],
          ['killed node restarted as a replica of the new master', ms(fo.returnedMs)],
          ['… and in sync (online on the new master)', ms(fo.returnedOnlineMs)],
          ['last failed answer', ms(fo.lastFailureMs)],
          ['first success of a request sent after the promotion', ms(fo.firstSuccessAfterPromotionMs)],
        ],
      ),
    );
    md.push('');
    const window = fo.firstFailureMs !== null && fo.lastFailureMs !== null ? fo.lastFailureMs - fo.firstFailureMs : NaN;
    const res = fo.run.result;
    const mark = (p: boolean): string => (p ? '✅' : '❌');
    md.push(
      table(
        ['', 'measured', 'wanted'],
        [
          ['unavailability window (first to last failed answer)', `${n(window)} ms, with ${n(fo.successesInWindow)} successes inside it`, '–'],
          ['failed answers', Object.entries(fo.failures).map(([k, v]) => `${k}: ${n(v)}`).join(', ') || '0', 'only 503 `store_unavailable`'],
          ['slowest answer', `${n(fo.slowestMs)} ms (request sent at ${ms(fo.slowestSentMs)})`, `≤ 2,000 ms ${mark(fo.slowestMs <= 2000)}`],
          ['double issues / lease mismatches', `${res.doubleIssues} / ${res.leaseMismatches}`, `0 ${mark(res.doubleIssues + res.leaseMismatches === 0)}`],
          ['cycles/s before the kill → from 1 s after the last failure', `${n(fo.cyclesPerSecBefore)} → ${n(fo.cyclesPerSecAfter)}`, '–'],
          ['leases left to nobody afterwards (releases lost to the crash; back at the lease TTL)', n(fo.leasedToNobody), '–'],
        ],
      ),
    );
    md.push('');
    md.push(
      'With WAIT 1 and a single replica, the promoted master cannot acknowledge a change until it has a replica in sync again: from the promotion until the ' +
        'returned node has finished its full sync every change answers 503 (each probe waits the WAIT timeout), so the window is the Sentinel failover ' +
        '(down-after-milliseconds plus the election) plus the restart and full sync of the old node — the master delays a full sync by ' +
        '`repl-diskless-sync-delay` (5 s by default) to batch replicas. With more replicas than WAIT asks for, a replica that follows the new master ' +
        'acknowledges without that wait (not measured here). With WAIT 0 changes are answered again as soon as TeleGate follows the promoted master ' +
        '(not measured here), at the price of the loss window described in the README’s reliability section.',
    );
    md.push('');
  }
  return md;
}


export const ha: Step = {
  name: 'ha',
  // Not in a plain --quick run (it would double its minute): `--quick --only ha` is its short variant.
  inPlan: (plan) => plan.mode === 'full',
  budgetMs: (plan: Plan) => 90_000 + plan.ha.concurrency.length * plan.ha.rounds * 2 * (plan.ha.warmupMs + plan.ha.durationMs + 1000) + plan.ha.failover.windowMs,
  async run(ctx) {
    const { plan, children, results, filesDir, distDir } = ctx;
    results.ha = await measureHa(plan.ha, {
      startTeleGate: async (name, prefix, extra) => {
        const svc = await startService(children, { name, distDir: distDir, env: serviceEnv({ prefix, sessionsDir: filesDir, extra }) });
        await waitForPool(svc.port, plan.cyclePool);
        await warmUp(plan.serverWarmupMs, svc.port);
        return svc;
      },
      measured,
      log,
      fmt,
      apiKey: API_KEY,
    });
  },
  section: haSection,
};
