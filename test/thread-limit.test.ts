// A process that cannot create more threads: libgomp (OpenMP) ends the whole process when a parallel
// region cannot get its threads ("libgomp: Thread creation failed", exit code 1), so a run at 2 threads in
// a process at its thread or address-space limit used to kill it. Each run now first checks that the
// threads can be created (native/runtime/openmp_threads.h) and otherwise runs on fewer. The limit is made
// real: test/helpers/thread-limit.mjs warms up, then this test lowers its address-space limit to a few
// MB above what it already uses (8 MB is one thread stack), and it runs a 2-thread session both ways.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const script = new URL('./helpers/thread-limit.mjs', import.meta.url).pathname;
const dist = new URL('../dist/index.js', import.meta.url).pathname;
const prlimit = process.platform === 'linux' && !spawnSync('prlimit', ['--version']).error;

/** Runs the helper, caps its address space at its size + marginMb once it is ready, and returns its report. */
function runLimited(marginMb: number): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      const before = stdout;
      stdout += d;
      if (!before.includes('ready\n') && stdout.includes('ready\n')) {
        const kb = Number(/VmSize:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
        const r = spawnSync('prlimit', ['--pid', String(child.pid), `--as=${(kb + marginMb * 1024) * 1024}`], { encoding: 'utf8' });
        if (r.status !== 0) reject(new Error(`prlimit failed: ${r.stderr}`));
        child.stdin.write('go\n');
      }
    });
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

describe.skipIf(!prlimit)(`runs in a process that cannot create threads${prlimit ? '' : ' (skipped: needs Linux and prlimit from util-linux)'}`, () => {
  it('a 2-thread session runs on fewer threads or fails with a code; the process lives (margins of 8-24 MB)', async () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: build it with \`npx tsc -p .\` (npm test does)`);
    for (const margin of [8, 12, 16, 24]) {
      const r = await runLimited(margin);
      // Before the check: exit code 1 and "libgomp: Thread creation failed" on stderr at these margins.
      expect(r.stderr, `margin ${margin} MB`).not.toMatch(/Thread creation failed/);
      expect({ margin, status: r.status, signal: r.signal }).toEqual({ margin, status: 0, signal: null });
      const runs = JSON.parse(r.stdout.trim().split('\n').pop()!) as Array<{ mode: string; diff?: number; code?: string }>;
      expect(runs.map((x) => x.mode)).toEqual(['runSync', 'run']);
      for (const run of runs) {
        // A run that got its threads (or fewer) computes what one thread does; one that could not get
        // memory says so with the package's code.
        if (run.code !== undefined) expect(run.code).toBe('ERR_FACESTYLE_OUT_OF_MEMORY');
        else expect(run.diff).toBeLessThan(1e-5);
      }
    }
  }, 300_000);
});
