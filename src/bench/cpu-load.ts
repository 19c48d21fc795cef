/**
 * How busy the machine was with other work while we measured: CPU time of the whole machine (/proc/stat) minus
 * the CPU time of this process and every child it waited for (/proc/self/stat utime + stime + cutime + cstime).
 * On a shared VM this tells a quiet measurement from one that competed with another tenant for the cores.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuSnapshot {
  /** Sum over CPUs of all jiffies (steal included). */
  total: number;
  /** Sum over CPUs of idle + iowait jiffies. */
  idle: number;
  steal: number;
  /** This process and its waited-for children, in the same clock ticks. */
  own: number;
}

export interface CpuLoad {
  /** Cores' worth of CPU used by other processes (not ours) during the interval. */
  otherCores: number;
  /** Cores' worth used by us (this process and its children). */
  ownCores: number;
  /** Share of CPU time stolen by the hypervisor, in percent. */
  stealPct: number;
}

/** A snapshot from the text of /proc/stat and /proc/self/stat. */
export function parseCpuSnapshot(procStat: string, selfStat: string): CpuSnapshot | undefined {
  const line = procStat.split('\n')[0]?.trim() ?? '';
  if (!line.startsWith('cpu ')) return undefined;
  const cpu = line.split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  // Fields after "(comm)": state is field 3, so utime (14) … cstime (17) are at 11 … 14 of the rest.
  const rest = selfStat.slice(selfStat.lastIndexOf(')') + 2).split(' ');
  const own = [11, 12, 13, 14].reduce((s, i) => s + Number(rest[i] ?? 0), 0);
  if (![user, idle, steal, own].every(Number.isFinite)) return undefined;
  return {
    total: user + nice + system + idle + iowait + irq + softirq + steal,
    idle: idle + iowait,
    steal,
    own,
  };
}

/** This machine's CPU counters now (Linux); undefined where /proc is absent. */
export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    return parseCpuSnapshot(readFileSync('/proc/stat', 'utf8'), readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

export function cpuLoad(
  a: CpuSnapshot | undefined,
  b: CpuSnapshot | undefined,
  logicalCpus = cpus().length,
): CpuLoad | undefined {
  if (!a || !b) return undefined;
  const total = b.total - a.total;
  if (total <= 0) return undefined;
  const perCpu = total / logicalCpus;
  const busy = total - (b.idle - a.idle) - (b.steal - a.steal);
  const own = b.own - a.own;
  return {
    otherCores: Math.max(0, (busy - own) / perCpu),
    ownCores: own / perCpu,
    stealPct: ((b.steal - a.steal) / total) * 100,
  };
}
