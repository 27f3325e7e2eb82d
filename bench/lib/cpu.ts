/**
 * Where a benchmark's CPU goes: the CPU time of the processes taking part (ingest, the
 * database server, the broker, the benchmark's own publishers) and of the whole machine,
 * read from /proc (proc(5): /proc/<pid>/stat utime and stime, /proc/stat's first line).
 *
 * Throughput on a machine of few cores is bounded by the CPU each uplink costs all of them
 * together, so a figure of uplinks/s means little without it (README, Measured
 * performance). A process this machine cannot see (a database on another host) is null.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of the /proc counters (sysconf(_SC_CLK_TCK)). */
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The fields of /proc/<pid>/stat (or a thread's task/<tid>/stat) after the command name, which may itself hold spaces. */
function statFields(pid: number, thread?: number): string[] | null {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** User + system CPU seconds from stat fields: utime is field 14 of stat, index 11 after the name; stime index 12. */
function cpuSeconds(f: string[] | null): number | null {
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_S : null;
}

/** CPU seconds (user + system) a process has used so far; null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  return cpuSeconds(statFields(pid));
}

/**
 * CPU seconds of a process's main thread alone (its thread id is the process id): for Node,
 * the JavaScript thread, without the GC and libuv helper threads the process figure counts.
 * A process whose main thread is busy nearly all the time is bounded by that one thread.
 */
export function mainThreadCpuSeconds(pid: number): number | null {
  return cpuSeconds(statFields(pid, pid));
}

export function parentPid(pid: number): number | null {
  const f = statFields(pid);
  return f ? Number(f[1]) : null;
}

/**
 * The postmaster of the PostgreSQL backend `backendPid` (pg_backend_pid()), when that server
 * runs on this machine; null otherwise, as for a database on another host, whose backend
 * pid may name an unrelated process here.
 */
export function localPostmaster(databaseUrl: string, backendPid: number): number | null {
  const host = new URL(databaseUrl).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', ''].includes(host)) return null;
  const comm = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const parent = parentPid(backendPid);
  return comm(backendPid) === 'postgres' && parent !== null && comm(parent) === 'postgres' ? parent : null;
}

/**
 * CPU seconds of a process and its children: a PostgreSQL server is its postmaster and one
 * child per connection or background worker. Children that exited are not counted, so over
 * an interval the figure can come out low, never high.
 */
export function treeCpuSeconds(rootPid: number): number | null {
  const own = processCpuSeconds(rootPid);
  if (own === null) return null;
  let total = own;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (parentPid(pid) === rootPid) total += processCpuSeconds(pid) ?? 0;
  }
  return total;
}

/** Busy and total CPU seconds of the whole machine, over all cores. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const n = ticks.map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = n[3]! + n[4]!;
  return { busy: (total - idle) / TICKS_PER_S, total: total / TICKS_PER_S };
}

export type CpuSources = Record<string, (() => number | null) | undefined>;

/**
 * Starts measuring: stop(units) gives the CPU each source and the whole machine used since,
 * per unit of work (µs per uplink), and how many of the machine's cores were busy.
 */
export function cpuMeter(sources: CpuSources): { stop(units: number): CpuFigures } {
  const read = () => Object.fromEntries(Object.entries(sources).map(([k, f]) => [k, f?.() ?? null]));
  const before = read();
  const machineBefore = machineCpuSeconds();
  const startedAt = performance.now();
  return {
    stop(units) {
      const after = read();
      const machine = machineCpuSeconds();
      const elapsedS = (performance.now() - startedAt) / 1000;
      const perUnit: Record<string, number | null> = {};
      for (const k of Object.keys(sources)) {
        const a = before[k];
        const b = after[k];
        perUnit[k] = a === null || b === null || a === undefined || b === undefined ? null : Math.round(((b - a) / units) * 1e6);
      }
      return {
        usPerUnit: perUnit,
        machineUsPerUnit: Math.round(((machine.busy - machineBefore.busy) / units) * 1e6),
        busyCores: Number(((machine.busy - machineBefore.busy) / elapsedS).toFixed(2)),
      };
    },
  };
}

export interface CpuFigures {
  /** CPU µs each source spent per unit of work; null where it could not be read. */
  usPerUnit: Record<string, number | null>;
  /** CPU µs the whole machine spent per unit of work (every process, the kernel too). */
  machineUsPerUnit: number;
  /** Cores busy on average over the interval. */
  busyCores: number;
}
