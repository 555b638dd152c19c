import type { Command } from 'commander';
import { COMPUTE_CLASSES, modelInfo } from '../onnx/info.js';
import { resolveModelName } from '../models.js';

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** `facestyle info <model.onnx | model card | run folder> [--size WxH] [--json]`: ops, parameters, MACs, memory, mobile class. */
export function registerInfoCommand(program: Command): void {
  program
    .command('info')
    .description('Model facts: op histogram, parameters, MACs, peak activation memory and mobile compute class at an input size')
    .argument('<model>', 'ONNX model file, or a facestyle model card (.json), weights / checkpoint (.safetensors) or training run folder')
    .option('--size <WxH>', 'input image size for dynamic models (e.g. 640x480 or 256; a facestyle model: default 256)')
    .option('--json', 'print JSON')
    .action(async (given: string, opts: { size?: string; json?: boolean }) => {
      const model = resolveModelName(given); // a shipped model by name too ('comic-light')
      const info = await modelInfo(model, { size: opts.size });
      if (opts.json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      const shapes = (list: { name: string; shape: number[] }[]) => list.map((v) => `${v.name} [${v.shape.join(',')}]`).join(', ');
      const ops = Object.entries(info.ops)
        .sort((a, b) => b[1] - a[1])
        .map(([op, n]) => `${op} ${n}`)
        .join(', ');
      const lines = [
        `model:       ${info.name}${info.opset ? ` (opset ${info.opset})` : ''}`,
        `inputs:      ${shapes(info.inputs)}`,
        `outputs:     ${shapes(info.outputs)}`,
        `parameters:  ${info.params.toLocaleString('en-US')} (${mib(info.paramBytes)})`,
        `MACs:        ${(info.macs / 1e9).toFixed(3)} G`,
        `activations: ${mib(info.peakActivationBytes)} peak`,
        `class:       ${info.computeClass} (${COMPUTE_CLASSES[info.computeClass].doc})`,
        `ops:         ${ops}`,
      ];
      if (info.denormalWeights > 0)
        lines.push(`denormals:   ${info.denormalWeights.toLocaleString('en-US')} weights below 2^-126 (set to 0 when facestyle loads the model: on many x86 cores they slow every multiply)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
}
