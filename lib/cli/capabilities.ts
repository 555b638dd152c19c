import type { Command } from 'commander';
import { capabilities } from '../capabilities.js';

export function registerCapabilitiesCommand(program: Command): void {
  program
    .command('capabilities')
    .description('What this build and machine can do: version, SIMD level, threads, CUDA, GPUs')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const c = capabilities();
      if (opts.json) {
        process.stdout.write(JSON.stringify(c, null, 2) + '\n');
        return;
      }
      const cpuOps = c.ops.filter((o) => o.cpu).length;
      const cudaOps = c.ops.filter((o) => o.cuda).length;
      const lines = [
        `facestyle ${c.version}`,
        `SIMD:    ${c.simd}${c.simd !== c.simdDetected ? ` (CPU supports ${c.simdDetected}; lowered by FACESTYLE_SIMD)` : ''}`,
        `Threads: ${c.threads}${c.openmp ? ' (OpenMP)' : ' (no OpenMP)'}`,
        `CUDA:    ${c.cuda.compiled ? `compiled in (runtime ${c.cuda.runtimeVersion})` : 'not compiled in'}`,
        `GPUs:    ${c.cuda.devices.length ? c.cuda.devices.map((d) => `${d.name} (sm ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB)`).join(', ') : `none${c.cuda.error ? ` (${c.cuda.error})` : ''}`}`,
        `Ops:     ${cpuOps}/${c.ops.length} on CPU, ${cudaOps}/${c.ops.length} on CUDA`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
