/**
 * The leader's jobs log a failed scheduled sync by what failed: an unavailable
 * store (Redis down or reconnecting, which the connection already reports) is a
 * warning without a stack; a store that refuses writes or anything unexpected is
 * an error. A real LocalLeadership and MemoryStore drive the jobs; the sync
 * itself is the function under the jobs (its failure is what is being logged).
 */
import assert from 'node:assert/strict';
import { LeaderJobs } from '../../src/cluster/jobs';
import { LocalLeadership } from '../../src/cluster/leader';
import { StoreRefusedError, StoreUnavailableError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { MemoryStore } from '../../src/pool/memory';
import type { SyncSummary } from '../../src/sync';
import { until } from '../../support/poll';

interface Line {
  level: string;
  msg: string;
  err?: unknown;
  reason?: string;
}

async function firstSyncLog(failure: Error): Promise<Line> {
  const lines: Line[] = [];
  const logger = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
  const leadership = new LocalLeadership(new MemoryStore());
  const results: string[] = [];
  const jobs = new LeaderJobs({
    leadership,
    syncCron: '0 0 1 1 *', // once a year: only the run on gaining leadership happens here
    reaperIntervalMs: 3_600_000,
    runSync: (): Promise<SyncSummary> => Promise.reject(failure),
    reap: () => Promise.resolve(0),
    logger,
    onSync: (r) => results.push(r),
  });
  try {
    leadership.start();
    await until(() => results.length > 0, 'the sync on gaining leadership', 5_000);
    assert.deepEqual(results, ['failed']);
    const line = lines.find((l) => l.msg.startsWith('scheduled sync failed'));
    assert.ok(line, JSON.stringify(lines));
    return line;
  } finally {
    jobs.stop();
    await leadership.stop();
  }
}

describe('leader jobs: how a failed scheduled sync is logged', () => {
  it('an unavailable store (Redis down or reconnecting) is a warning, no stack', async () => {
    const line = await firstSyncLog(new StoreUnavailableError(new Error('Connection is closed.')));
    assert.equal(line.level, 'warn');
    assert.equal(line.err, undefined);
    assert.equal(line.reason, 'store unavailable');
  });

  it('a store refusing writes (OOM) and an unexpected failure stay errors', async () => {
    assert.equal((await firstSyncLog(new StoreRefusedError('OOM command not allowed'))).level, 'error');
    assert.equal((await firstSyncLog(new Error('bug'))).level, 'error');
  });
});
