/**
 * What the database server did over an interval: the statements it received (`Questions`, counted for
 * every client) and the CPU time of its process (`/proc/<pid>/stat`). Both are server-wide, so a
 * benchmark also counts its own statements client-side and reports what is left as "other clients".
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

import type { Knex } from 'knex';

/** One reading of the server's counters. */
export interface LoadSample {
  /** `SHOW GLOBAL STATUS LIKE 'Questions'`. */
  readonly questions: number;
  /** utime + stime of the server process, in clock ticks. */
  readonly cpuTicks: number;
  /** Busy and total clock ticks of the whole machine (/proc/stat), to show how loaded the host was. */
  readonly machineBusyTicks: number;
  readonly machineTotalTicks: number;
  /** Monotonic ms when it was read. */
  readonly at: number;
}

/** The difference of two samples. */
export interface LoadDelta {
  readonly seconds: number;
  /** Statements received, without the ones the sampler itself sent. */
  readonly questions: number;
  /** Server CPU time, µs. */
  readonly cpuUs: number;
  /** Server CPU as a percentage of one core. */
  readonly cpuPercent: number;
  /** The whole machine's CPU in use (every process, ours and others'), % of all cores. */
  readonly machineBusyPercent: number;
}

/** Statements each `sample()` adds to the next reading (the SHOW itself; measured by `calibrate()`). */
const DEFAULT_OWN_STATEMENTS = 1;

/** Finds the database server's process by name: the benchmark runs on the server's host. */
function findServerPid(): number {
  const names = new Set(['mariadbd', 'mysqld']);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (names.has(readFileSync(`/proc/${entry}/comm`, 'utf8').trim())) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  throw new Error('no mariadbd or mysqld process on this host: the CPU figures need the server locally');
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** The machine's CPU ticks: all, and all but idle and iowait (first line of /proc/stat). */
function machineTicks(): { machineBusyTicks: number; machineTotalTicks: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { machineBusyTicks: total - idle, machineTotalTicks: total };
}

/** Samples the server's statement counter and CPU time through a connection of its own. */
export class ServerLoad {
  readonly pid = findServerPid();
  readonly ticksPerSecond = clockTicksPerSecond();
  private ownStatements = DEFAULT_OWN_STATEMENTS;

  constructor(private readonly db: Knex) {}

  /** How many statements one sample adds to the counter (the SHOW itself), measured back to back. */
  async calibrate(): Promise<number> {
    const rounds = 5;
    const first = await this.sample();
    let last = first;
    for (let i = 0; i < rounds; i++) last = await this.sample();
    // The least over a few rounds: another client's statement in between would only add.
    this.ownStatements = Math.max(0, Math.round((last.questions - first.questions) / rounds));
    return this.ownStatements;
  }

  async sample(): Promise<LoadSample> {
    const [rows] = (await this.db.raw("SHOW GLOBAL STATUS LIKE 'Questions'")) as [{ Value: string }[]];
    const questions = Number(rows[0]?.Value);
    return { questions, cpuTicks: this.cpuTicks(), ...machineTicks(), at: performance.now() };
  }

  /** From `a` to `b`, taken with no other sample in between. */
  delta(a: LoadSample, b: LoadSample): LoadDelta {
    const seconds = (b.at - a.at) / 1000;
    const cpuUs = ((b.cpuTicks - a.cpuTicks) / this.ticksPerSecond) * 1e6;
    return {
      seconds,
      questions: b.questions - a.questions - this.ownStatements,
      cpuUs,
      cpuPercent: cpuUs / 1e4 / seconds,
      machineBusyPercent:
        (100 * (b.machineBusyTicks - a.machineBusyTicks)) / Math.max(1, b.machineTotalTicks - a.machineTotalTicks),
    };
  }

  private cpuTicks(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  }
}
