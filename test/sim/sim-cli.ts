/**
 * `npm run sim -- --seeds N --from S [--ticks T] [--trace]`: runs swarm seeds S..S+N-1 of the
 * deterministic simulator and prints a summary: seeds, simulated ticks, wall time, election
 * durations, peer-gone notices and membership changes (refusals by reason). A failing seed prints
 * the command that replays it; the exit code is then 1.
 */
import { parseArgs } from 'node:util';
import { medianAndMax } from './election-timer.js';
import { livenessTicksMax, runSeed, safetyTicksDefault } from './run-seed.js';
import { SimulationFailure } from './simulation.js';

const usage = 'usage: npm run sim -- --seeds N --from S [--ticks T] [--trace]';

function parseCount(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative integer, got ${value}\n${usage}\n`);
    process.exit(2);
  }
  return n;
}

function parseFlags() {
  try {
    return parseArgs({
      options: {
        seeds: { type: 'string' },
        from: { type: 'string' },
        ticks: { type: 'string' },
        trace: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    process.exit(2);
  }
}

const values = parseFlags();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const seedCount = parseCount('seeds', values.seeds, 100);
const from = parseCount('from', values.from, 0);
const ticks = parseCount('ticks', values.ticks, safetyTicksDefault);
const trace = values.trace;
const tty = process.stdout.isTTY === true && !trace;

const writeLine = (line: string) => process.stdout.write(`${line}\n`);
const replay = (seed: number) => `npm run sim -- --seeds 1 --from ${seed} --trace`;
const failures: { seed: number; message: string }[] = [];
const elections: number[] = [];
const convergences: number[] = [];
const proposed = new Map<string, number>();
const refused = new Map<string, number>();
const membership = { seeds: 0, joined: 0, dropped: 0, replacesStarted: 0, replacesDone: 0, commitChecks: 0 };
const resets = { resets: 0, spuriousResets: 0, calmLeaderChanges: 0 };
const add = (counts: Map<string, number>, record: Partial<Record<string, number>>) => {
  for (const [key, n] of Object.entries(record)) counts.set(key, (counts.get(key) ?? 0) + (n ?? 0));
};
let ticksTotal = 0;
let seedsDone = 0;
let progressShownMs = 0;
const startMs = performance.now();
const startCpu = process.cpuUsage();

function progress(force: boolean): void {
  const nowMs = performance.now();
  if (!tty || (!force && nowMs - progressShownMs < 100)) return;
  progressShownMs = nowMs;
  const ticksPerSecond = Math.round(ticksTotal / ((nowMs - startMs) / 1000 || 1));
  process.stdout.write(
    `\r\x1b[Kseeds ${seedsDone}/${seedCount}  failures ${failures.length}  ${ticksPerSecond.toLocaleString('en')} ticks/s`,
  );
}

for (let seed = from; seed < from + seedCount; seed++) {
  try {
    const stats = await runSeed(seed, trace ? { ticks, trace: writeLine, traceMessages: true } : { ticks });
    ticksTotal += stats.ticks;
    elections.push(...stats.electionDurationsTicks);
    convergences.push(stats.livenessTicks);
    resets.resets += stats.faults.resets;
    resets.spuriousResets += stats.faults.spuriousResets;
    resets.calmLeaderChanges += stats.calmLeaderChanges;
    const m = stats.membership;
    add(proposed, m.proposed);
    add(refused, m.refused);
    if (stats.membersCreated > stats.memberCount || Object.values(m.refused).some((n) => n !== 0)) {
      membership.seeds++;
    }
    membership.joined += m.joined;
    membership.dropped += m.dropped;
    membership.replacesStarted += m.replacesStarted;
    membership.replacesDone += m.replacesDone;
    membership.commitChecks += stats.commitChecks;
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    ticksTotal += err.tick;
    failures.push({ seed, message: err.message });
    if (tty) process.stdout.write('\r\x1b[K');
    writeLine(`FAIL ${err.message}`);
    writeLine(`replay: ${replay(seed)}`);
  }
  seedsDone++;
  progress(false);
}
progress(true);
if (tty) process.stdout.write('\n');

const wallSeconds = (performance.now() - startMs) / 1000;
const { user, system } = process.cpuUsage(startCpu);
const cpuSeconds = (user + system) / 1e6;
const { median, max } = medianAndMax(elections);
writeLine(
  `seeds ${seedCount} (${from}..${from + seedCount - 1}), ${failures.length} failed; ` +
    `${ticksTotal.toLocaleString('en')} ticks simulated in ${wallSeconds.toFixed(1)} s wall, ` +
    `${cpuSeconds.toFixed(1)} s CPU (${Math.round(ticksTotal / (wallSeconds || 1)).toLocaleString('en')} ticks/s)`,
);
writeLine(
  `elections (default timeouts, leader lost → new leader known to a majority): ${elections.length}, ` +
    `median ${median} ticks, worst ${max} ticks`,
);
writeLine(
  `peer-gone notices heard: ${resets.resets} after crashes, ${resets.spuriousResets} spurious; ` +
    `leaders deposed with no fault near: ${resets.calmLeaderChanges}`,
);
const converged = medianAndMax(convergences);
writeLine(
  `convergence after heal (leader elected, its whole log applied everywhere): ` +
    `median ${converged.median} ticks, worst ${converged.max} ticks (limit ${livenessTicksMax})`,
);
const listed = (counts: Map<string, number>) =>
  [...counts]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, n]) => `${key} ${n}`)
    .join(', ') || 'none';
writeLine(
  `membership (${membership.seeds} seeds changed it): proposed ${listed(proposed)}; refused ${listed(refused)}; ` +
    `joined ${membership.joined} (dropped unjoined ${membership.dropped}); ` +
    `replaced ${membership.replacesDone} of ${membership.replacesStarted} begun; ` +
    `commits checked against voters' stores ${membership.commitChecks.toLocaleString('en')}`,
);
for (const { seed } of failures) writeLine(`replay: ${replay(seed)}`);
process.exitCode = failures.length > 0 ? 1 : 0;
