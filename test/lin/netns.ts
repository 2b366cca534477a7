/**
 * The network of a fault-injection round: every node in its own Linux network namespace, so a
 * partition can cut links between nodes while the test process still reaches every node.
 *
 *   hub namespace rkjNNhub:  bridge br0, with one port per node and one for the test process
 *   node i:                  namespace rkjNNn<i>, eth0 10.77.NN.<10+i>/24 <-> port rkjNNh<i> on br0
 *   root namespace:          rkjNNr 10.77.NN.1/24 <-> port rkjNNq on br0 (the test process's side)
 *
 * The bridge lives in a namespace of its own, not in the root one, so that traffic between nodes
 * never crosses the host's firewall (Docker, for one, sets the root FORWARD policy to DROP and
 * makes bridged packets go through it). NN is the round's slot (00-63), so rounds running at the
 * same time use separate names and subnets. A cut between nodes a and b is a policy-routing rule in each of the two namespaces that
 * blackholes every packet arriving from the other (`ip rule add from <peer> blackhole`): packets
 * are dropped silently, established connections included, as a real partition would. For that
 * rule to see packets addressed to the namespace itself, the `local` table's lookup is moved from
 * preference 0 to 200, behind the cut rules at 100. Only iproute2 is needed (no iptables).
 *
 * Every name starts with "rkj". A slot is owned through a file under /run/raftkv-jepsen holding
 * the owner's PID and start time, plus the PIDs of the nodes it started; `cleanupLeftovers`
 * removes the namespaces, links and processes of slots whose owner is gone (a crashed or killed
 * run), and nothing that belongs to a live run. Slots are taken and leftovers removed under one
 * lock, so concurrent runs (parallel test files, a runner next to the tests) never race.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onExit } from '../../harness/index.js';

/** The prefix of every namespace and link this suite creates. */
export const namePrefix = 'rkj';
const slotsMax = 64;
/** Preference of the cut rules; the `local` lookup moves behind them. */
const cutPref = 100;
const localPref = 200;

const stateRoot = (() => {
  try {
    mkdirSync('/run/raftkv-jepsen', { recursive: true });
    accessSync('/run/raftkv-jepsen', constants.W_OK);
    return '/run/raftkv-jepsen';
  } catch {
    return join(tmpdir(), 'raftkv-jepsen');
  }
})();

const pad = (n: number) => String(n).padStart(2, '0');
export const netnsName = (slot: number, index: number) => `${namePrefix}${pad(slot)}n${index}`;
const hubName = (slot: number) => `${namePrefix}${pad(slot)}hub`;
/** The bridge port of node `index`, and its other end before it moves into the node's namespace. */
const hubPort = (slot: number, index: number) => `${namePrefix}${pad(slot)}h${index}`;
const nodeEnd = (slot: number, index: number) => `${namePrefix}${pad(slot)}p${index}`;
/** The test process's end (root namespace) and its bridge port. */
const rootEnd = (slot: number) => `${namePrefix}${pad(slot)}r`;
const rootPort = (slot: number) => `${namePrefix}${pad(slot)}q`;
const subnet = (slot: number) => `10.77.${slot}`;

// --- processes --------------------------------------------------------------------------------

/** A process's start time (clock ticks since boot), which tells a PID's reuse apart; null if gone. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

interface ProcessRef {
  readonly pid: number;
  readonly start: string | null;
}

const isAlive = (p: ProcessRef) => p.start !== null && processStart(p.pid) === p.start;

// --- slots ------------------------------------------------------------------------------------

/**
 * Runs `fn` holding the registry's lock (a directory with its owner), so that taking a slot and
 * cleaning up leftovers never interleave between runs. A lock whose owner is gone is taken over.
 */
function withRegistryLock<T>(fn: () => T): T {
  mkdirSync(stateRoot, { recursive: true });
  const lock = join(stateRoot, 'lock');
  const me: ProcessRef = { pid: process.pid, start: processStart(process.pid) };
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner'), JSON.stringify(me));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let stale: boolean;
      try {
        stale = !isAlive(JSON.parse(readFileSync(join(lock, 'owner'), 'utf8')) as ProcessRef);
      } catch {
        // No owner written yet: stale only if it has been like that for a while.
        try {
          stale = Date.now() - statSync(lock).mtimeMs > 10_000;
        } catch {
          stale = false;
        }
      }
      if (stale) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`could not take the lock ${lock}`);
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** One round's claim on a slot: names, subnet, and the record of the processes it started. */
export class Slot {
  readonly n: number;
  readonly #ownerFile: string;
  readonly #pidsFile: string;
  #released = false;
  readonly #unregister: () => void;

  private constructor(n: number) {
    this.n = n;
    this.#ownerFile = join(stateRoot, `slot-${pad(n)}.json`);
    this.#pidsFile = join(stateRoot, `slot-${pad(n)}.pids`);
    this.#unregister = onExit(`slot ${n}`, () => this.release());
  }

  /** Takes the first free slot (a slot whose owner is gone is cleaned up and taken). */
  static acquire(): Slot {
    return withRegistryLock(() => {
      const me: ProcessRef = { pid: process.pid, start: processStart(process.pid) };
      for (let n = 0; n < slotsMax; n++) {
        const file = join(stateRoot, `slot-${pad(n)}.json`);
        if (existsSync(file)) {
          if (slotOwnerAlive(n)) continue;
          cleanupSlot(n);
        }
        rmSync(join(stateRoot, `slot-${pad(n)}.pids`), { force: true });
        writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
        return new Slot(n);
      }
      throw new Error(`all ${slotsMax} slots under ${stateRoot} are in use`);
    });
  }

  /** Remembers a node process, so a later run can kill it if this one dies without cleaning up. */
  recordProcess(pid: number): void {
    appendFileSync(this.#pidsFile, `${JSON.stringify({ pid, start: processStart(pid) })}\n`);
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#unregister();
    rmSync(this.#pidsFile, { force: true });
    rmSync(this.#ownerFile, { force: true });
  }
}

function slotOwnerAlive(n: number): boolean {
  const file = join(stateRoot, `slot-${pad(n)}.json`);
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as ProcessRef;
    return isAlive(owner);
  } catch {
    // Unreadable: being written right now, or garbage left by a crash. Young files get the benefit.
    try {
      return Date.now() - statSync(file).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }
}

/** Kills the recorded processes of a dead slot and removes its network; returns what was done. */
function cleanupSlot(n: number): string[] {
  const done: string[] = [];
  const pidsFile = join(stateRoot, `slot-${pad(n)}.pids`);
  let refs: ProcessRef[] = [];
  try {
    refs = readFileSync(pidsFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ProcessRef);
  } catch {
    // No processes recorded.
  }
  for (const p of refs) {
    if (!isAlive(p)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
      done.push(`killed leftover node process ${p.pid}`);
    } catch {
      // Gone meanwhile.
    }
  }
  if (canManageNetwork()) done.push(...removeSlotNetwork(n));
  rmSync(pidsFile, { force: true });
  rmSync(join(stateRoot, `slot-${pad(n)}.json`), { force: true });
  return done;
}

// --- iproute2 ---------------------------------------------------------------------------------

function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

const canManageNetwork = () => process.platform === 'linux' && process.getuid?.() === 0 && hasIp();

let ipPresent: boolean | null = null;
function hasIp(): boolean {
  if (ipPresent === null) ipPresent = spawnSync('ip', ['-V'], { stdio: 'ignore' }).status === 0;
  return ipPresent;
}

function listNetns(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function listLinks(): string[] {
  return ip('-o', 'link', 'show')
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');
}

/** Deletes a namespace after killing whatever still runs in it (processes of this suite only). */
function deleteNetns(ns: string): string[] {
  const done: string[] = [];
  let pids: number[] = [];
  try {
    pids = ip('netns', 'pids', ns)
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((p) => Number.isInteger(p) && p > 0);
  } catch {
    // Namespace already half gone.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      done.push(`killed process ${pid} in ${ns}`);
    } catch {
      // Exited meanwhile.
    }
  }
  try {
    ip('netns', 'del', ns);
    done.push(`deleted namespace ${ns}`);
  } catch {
    // Already deleted.
  }
  return done;
}

function removeSlotNetwork(n: number): string[] {
  const done: string[] = [];
  const nsPattern = new RegExp(`^${namePrefix}${pad(n)}(n\\d+|hub)$`);
  for (const ns of listNetns()) if (nsPattern.test(ns)) done.push(...deleteNetns(ns));
  const linkPattern = new RegExp(`^${namePrefix}${pad(n)}(br|h\\d+|p\\d+|r|q)$`);
  for (const link of listLinks()) {
    if (!linkPattern.test(link)) continue;
    try {
      ip('link', 'del', link);
      done.push(`deleted link ${link}`);
    } catch {
      // A veth end goes with its namespace.
    }
  }
  return done;
}

/**
 * Removes what crashed or killed runs of this suite left behind: their node processes,
 * namespaces, veth pairs and bridges, and slot files. Live runs are left alone.
 */
export function cleanupLeftovers(): string[] {
  return withRegistryLock(cleanupLeftoversLocked);
}

function cleanupLeftoversLocked(): string[] {
  const done: string[] = [];
  const live = new Set<number>();
  let files: string[] = [];
  try {
    files = readdirSync(stateRoot);
  } catch {
    // Nothing was ever recorded.
  }
  for (const f of files) {
    const m = /^slot-(\d+)\.json$/.exec(f);
    if (m === null) continue;
    const n = Number(m[1]);
    if (slotOwnerAlive(n)) live.add(n);
    else done.push(...cleanupSlot(n));
  }
  for (const f of files) {
    const m = /^slot-(\d+)\.pids$/.exec(f);
    if (m !== null && !live.has(Number(m[1]))) done.push(...cleanupSlot(Number(m[1])));
  }
  if (!canManageNetwork()) return done;
  const slotOf = (name: string) => {
    const m = new RegExp(`^${namePrefix}(\\d\\d)(n\\d+|hub|br|h\\d+|p\\d+|r|q)$`).exec(name);
    return m === null ? null : Number(m[1]);
  };
  for (const ns of listNetns()) {
    const n = slotOf(ns);
    const probe = new RegExp(`^${namePrefix}probe(\\d+)$`).exec(ns);
    if ((n !== null && !live.has(n)) || (probe !== null && processStart(Number(probe[1])) === null))
      done.push(...deleteNetns(ns));
  }
  for (const link of listLinks()) {
    const n = slotOf(link);
    if (n === null || live.has(n)) continue;
    try {
      ip('link', 'del', link);
      done.push(`deleted link ${link}`);
    } catch {
      // Went with its namespace.
    }
  }
  return done;
}

// --- support ----------------------------------------------------------------------------------

let support: { ok: true } | { ok: false; reason: string } | null = null;

/** Whether this machine lets the suite build namespaces (Linux, root, iproute2, and a trial works). */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (support !== null) return support;
  if (process.platform !== 'linux') support = { ok: false, reason: 'network namespaces need Linux' };
  else if (process.getuid?.() !== 0) support = { ok: false, reason: 'network namespaces need root' };
  else if (!hasIp()) support = { ok: false, reason: 'the `ip` command (iproute2) is not installed' };
  else {
    const probe = `${namePrefix}probe${process.pid}`;
    try {
      ip('netns', 'add', probe);
      ip('-n', probe, 'rule', 'add', 'pref', String(localPref), 'lookup', 'local');
      support = { ok: true };
    } catch (err) {
      support = { ok: false, reason: `cannot create a network namespace: ${(err as Error).message}` };
    } finally {
      try {
        ip('netns', 'del', probe);
      } catch {
        // Never created.
      }
    }
  }
  return support;
}

// --- the lab ----------------------------------------------------------------------------------

export interface LabNode {
  readonly id: string;
  readonly ns: string;
  readonly addr: string;
}

/** The namespaces of one round and the cuts between them. */
export class NetLab {
  readonly slot: Slot;
  /** The root namespace's address on the bridge (where the test's requests come from). */
  readonly hostAddr: string;
  readonly nodes: readonly LabNode[];
  /** node id -> peers whose packets it drops. */
  readonly #cuts = new Map<string, Set<string>>();
  #destroyed = false;
  readonly #unregister: () => void;

  private constructor(slot: Slot, nodes: LabNode[]) {
    this.slot = slot;
    this.hostAddr = `${subnet(slot.n)}.1`;
    this.nodes = nodes;
    for (const n of nodes) this.#cuts.set(n.id, new Set());
    this.#unregister = onExit(`network of slot ${slot.n}`, () => this.destroy());
  }

  /** Builds the hub and one namespace per node id; undone by destroy(), also on failure here. */
  static create(slot: Slot, ids: readonly string[]): NetLab {
    const s = slot.n;
    const nodes = ids.map((id, i) => ({ id, ns: netnsName(s, i + 1), addr: `${subnet(s)}.${11 + i}` }));
    // Anything named after this slot is a leftover: the slot is ours now.
    removeSlotNetwork(s);
    const lab = new NetLab(slot, nodes);
    try {
      const hub = hubName(s);
      ip('netns', 'add', hub);
      ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', hub, 'link', 'set', 'br0', 'up');
      ip('link', 'add', rootEnd(s), 'type', 'veth', 'peer', 'name', rootPort(s));
      ip('link', 'set', rootPort(s), 'netns', hub);
      ip('-n', hub, 'link', 'set', rootPort(s), 'master', 'br0', 'up');
      ip('addr', 'add', `${lab.hostAddr}/24`, 'dev', rootEnd(s));
      ip('link', 'set', rootEnd(s), 'up');
      nodes.forEach((n, i) => {
        const port = hubPort(s, i + 1);
        const peer = nodeEnd(s, i + 1);
        ip('netns', 'add', n.ns);
        ip('link', 'add', port, 'type', 'veth', 'peer', 'name', peer);
        ip('link', 'set', port, 'netns', hub);
        ip('link', 'set', peer, 'netns', n.ns);
        ip('-n', hub, 'link', 'set', port, 'master', 'br0', 'up');
        ip('-n', n.ns, 'link', 'set', 'lo', 'up');
        ip('-n', n.ns, 'link', 'set', peer, 'name', 'eth0');
        ip('-n', n.ns, 'addr', 'add', `${n.addr}/24`, 'dev', 'eth0');
        ip('-n', n.ns, 'link', 'set', 'eth0', 'up');
        ip('-n', n.ns, 'rule', 'add', 'pref', String(localPref), 'lookup', 'local');
        ip('-n', n.ns, 'rule', 'del', 'pref', '0', 'lookup', 'local');
        // Without early demux every packet of an established connection goes through the rules.
        spawnSync('ip', ['netns', 'exec', n.ns, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_early_demux'], {
          stdio: 'ignore',
        });
      });
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  node(id: string): LabNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id} in the network`);
    return n;
  }

  /** Afterwards exactly these links between nodes are cut, both ways; every other link works. */
  setCuts(pairs: readonly (readonly [string, string])[]): void {
    const want = new Map<string, Set<string>>(this.nodes.map((n) => [n.id, new Set<string>()]));
    for (const [a, b] of pairs) {
      if (a === b) throw new Error(`cannot cut ${a} from itself`);
      want.get(a)?.add(b);
      want.get(b)?.add(a);
    }
    for (const n of this.nodes) {
      const have = this.#cuts.get(n.id)!;
      const next = want.get(n.id)!;
      for (const peer of have) {
        if (next.has(peer)) continue;
        ip('-n', n.ns, 'rule', 'del', 'from', `${this.node(peer).addr}/32`, 'pref', String(cutPref));
        have.delete(peer);
      }
      for (const peer of next) {
        if (have.has(peer)) continue;
        ip(
          '-n',
          n.ns,
          'rule',
          'add',
          'from',
          `${this.node(peer).addr}/32`,
          'blackhole',
          'pref',
          String(cutPref),
        );
        have.add(peer);
      }
    }
  }

  heal(): void {
    this.setCuts([]);
  }

  /** The links cut now, as "a-b" pairs. */
  cuts(): string[] {
    const out: string[] = [];
    for (const [a, peers] of this.#cuts) for (const b of peers) if (a < b) out.push(`${a}-${b}`);
    return out.sort();
  }

  /** Deletes the namespaces (killing what still runs in them), the hub and the links. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#unregister();
    removeSlotNetwork(this.slot.n);
  }
}
