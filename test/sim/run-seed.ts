/**
 * One swarm run from start to verdict, shared by the tests and `npm run sim`: the safety phase
 * with faults, heal, the liveness phase until the cluster converges, then the final checks.
 * Throws a SimulationFailure naming the seed; returns the run's stats otherwise.
 */
import { type SimStats, Simulation } from './simulation.js';

/** Ticks of the safety phase when the caller does not say. */
export const safetyTicksDefault = 1_000;
/**
 * After heal, the cluster must elect a leader and apply everything in its log on every member
 * within this many ticks (200 election timeouts at the default 10 ticks).
 */
export const livenessTicksMax = 2_000;

/** Safety-phase length and tracing of one run. */
export interface RunSeedOptions {
  readonly ticks?: number;
  readonly trace?: (line: string) => void;
  readonly traceMessages?: boolean;
}

/** Runs seed `seed` from start to verdict; throws a SimulationFailure, or returns the run's stats. */
export async function runSeed(seed: number, options: RunSeedOptions = {}): Promise<SimStats> {
  const { trace, traceMessages } = options;
  const sim = await Simulation.swarm(seed, {
    ...(trace === undefined ? {} : { trace }),
    ...(traceMessages === undefined ? {} : { traceMessages }),
  });
  await sim.run({ ticks: options.ticks ?? safetyTicksDefault });
  await sim.heal();
  await sim.runUntil(() => sim.converged(), { ticksMax: livenessTicksMax });
  await sim.check();
  return sim.stats();
}
