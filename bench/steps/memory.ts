/** Redis bytes per registered session (bench/lib/memory.ts), and the service's RSS under the cycle load. */
import { log, type Step } from '../lib/context';
import { at, f, n, table } from '../lib/markdown';
import { measureMemory } from '../lib/memory';
import type { Results } from '../lib/results';

export function memorySection(r: Results): string[] {
  const md: string[] = [];
  if (r.memory) {
    const m = r.memory;
    md.push('## Memory');
    md.push('');
    md.push(
      `**Redis:** ${f(m.bytesPerSession, 1)} bytes per registered session (INFO \`used_memory\`, without client and AOF buffers, before and after registering ${n(m.sessions)} sessions through ` +
        `\`RedisStore.applySync\`, meta \`{"proxy":null}\`, in ${f(m.seed.seconds, 1)} s), ${f(m.bytesPerSessionAfterUse, 1)} bytes once every session has been leased once. ` +
        'Where the bytes go (keys grouped by pattern, `MEMORY USAGE … SAMPLES 0`, big groups sampled and scaled):',
    );
    md.push('');
    md.push(
      table(
        ['part', 'encoding', 'B/session registered', 'B/session after first lease'],
        m.breakdown.map((p) => [p.part, p.encoding, f(p.bytesPerSession, 1), f(m.breakdownAfterUse.find((q) => q.key === p.key)?.bytesPerSession, 1)]),
      ),
    );
    md.push('');
    md.push('![Redis bytes per session by layout](bench-memory.svg)');
    md.push('');
    md.push(
      table(
        ['layout', 'what changes', 'meta', 'encodings (data / ids / free)', 'B/session', 'with lease token'],
        m.alternatives.map((a) => [a.layout, a.change, `${a.meta.length} B`, a.encodings, f(a.bytesPerSession, 1), f(a.bytesPerSessionWithToken, 1)]),
      ),
    );
    md.push('');
    md.push(`Redis settings during the run: ${Object.entries(m.config).map(([k, v]) => `\`${k} ${v}\``).join(', ')}.`);
    md.push('');
  }
  const rss = [
    ['Redis', at(r.cycles.redis, 64)],
    ['embedded store', at(r.cycles.memory, 64)],
  ] as const;
  md.push(
    `**Service RSS under the cycle load (concurrency 64):** ${rss
      .filter(([, m]) => m)
      .map(([label, m]) => `${label}: max ${f(m?.cpu.rssMaxMb.service, 0)} MB, mean ${f(m?.cpu.rssMeanMb.service, 0)} MB`)
      .join('; ')} (${n(r.config.cyclePool)} sessions).`,
  );
  md.push('');
  return md;
}

export const memory: Step = {
  name: 'memory',
  budgetMs: () => 150_000,
  async run(ctx) {
    const { plan, results, filesDir } = ctx;
    const r = ctx.redis;
    results.memory = await measureMemory(r, plan.memorySessions, filesDir, log, plan.layouts);
    log(`  ${results.memory.bytesPerSession} B/session registered, ${results.memory.bytesPerSessionAfterUse} B after each was leased once`);
  },
  section: memorySection,
};
