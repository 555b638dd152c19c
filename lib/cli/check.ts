import type { Command } from 'commander';
import { Tensor } from '../graph/tensor.js';
import { imageToTensor } from '../image/io.js';
import { checkInputFitsSize, imageInputShapes, declaredInputs, parseSize } from '../onnx/info.js';
import { exportOnnxBuffer } from '../onnx/export.js';
import { isGeneratorSource } from '../files.js';
import { loadGenerator } from '../nn/load.js';
import { checkParity } from '../onnx/parity.js';
import { argumentError } from '../errors.js';
import { optionalNumber, decimal } from './args.js';
import * as is from '../is.js';
import { resolveModelName } from '../models.js';

interface CheckOptions {
  image?: string;
  size?: string;
  range: string;
  bgr?: boolean;
  threads: string;
  atol: string;
  rtol: string;
  json?: boolean;
  limitInputPixels?: string;
}

/** An image as the feed of a rank-4 image input (NCHW or NHWC, 1 or 3 channels), resized to it. */
async function imageFeed(path: string, shape: number[], range: [number, number], bgr: boolean, limitInputPixels: number | undefined): Promise<Tensor> {
  const nhwc = shape[3] === 3 && shape[1] !== 3;
  const [h, w] = nhwc ? [shape[1], shape[2]] : [shape[2], shape[3]];
  const t = await imageToTensor(path, { size: [w, h], range, channels: bgr ? 'bgr' : 'rgb', limitInputPixels });
  if (!nhwc) return t;
  const out = new Float32Array(t.size);
  const plane = w * h;
  for (let i = 0; i < plane; ++i) for (let c = 0; c < 3; ++c) out[i * 3 + c] = t.data[c * plane + i];
  return new Tensor([1, h, w, 3], out);
}

/** `facestyle check <model.onnx> [--image face.jpg] [--json]`: parity with onnxruntime-node; exit code 1 when it fails. */
export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('Run a model through onnxruntime-node and the native engine on the same input and compare every output')
    .argument('<model>', 'ONNX model file, or a facestyle model (card .json, .safetensors, run folder: exported to ONNX in memory, then checked)')
    .option('--image <file>', 'feed this image (resized to the input size) instead of random values')
    .option('--size <WxH>', 'input size for dynamic models (default: the image size rounded down to a multiple of 32, or 256)')
    .option('--range <lo,hi>', 'value range the 0..255 pixels map to (a facestyle model: its card\'s, -1,1)', '0,1')
    .option('--bgr', 'feed channels in BGR order')
    .option('--limit-input-pixels <n>', "refuse an --image with more pixels than this (default: sharp's, 268402689)")
    .option('--threads <n>', 'CPU threads for both engines (0: all)', '0')
    .option('--atol <x>', 'absolute tolerance: an element passes when |native - onnxruntime| <= atol + rtol * max(|onnxruntime|, RMS of that output)', '1e-5')
    .option('--rtol <x>', "relative tolerance, of the larger of the element's magnitude and the output's RMS (see --atol)", '1e-4')
    .option('--json', 'print JSON')
    .action(async (given: string, opts: CheckOptions, command: Command) => {
      const modelPath = resolveModelName(given); // a shipped model by name too ('comic-light')
      let model: string | Uint8Array = modelPath;
      let rangeText = opts.range;
      let size: [number, number] | null = opts.size ? parseSize(opts.size) : null;
      if (isGeneratorSource(modelPath)) {
        // facestyle's own generator: its ONNX export (height and width declared dynamic, as `facestyle
        // export` writes it), fed in the card's input range unless --range says otherwise.
        const { graph, card } = await loadGenerator(modelPath, { size: size ?? 256 });
        model = exportOnnxBuffer(graph, { dynamicSpatial: true });
        const cardRange = (card.input as { range?: unknown } | undefined)?.range;
        if (command.getOptionValueSource('range') === 'default') rangeText = Array.isArray(cardRange) && cardRange.length === 2 ? cardRange.join(',') : '-1,1';
      }
      // Two different numbers as typed (',' read as 0,0; '0x1,2' as 1,2).
      const range = rangeText.split(',').map(decimal) as [number, number];
      if (range.length !== 2 || !range.every(Number.isFinite) || range[0] === range[1]) throw argumentError(`Expected --range lo,hi (two different numbers) but received '${rangeText}'`);
      const declared = declaredInputs(model);
      if (size) for (const d of declared) checkInputFitsSize(d.name, d.dims, size);
      const feeds: Record<string, Tensor> = {};
      let inputShapes: Record<string, number[]> = {};
      // As stylize's: a positive whole number of pixels.
      const limit = opts.limitInputPixels === undefined ? undefined : is.integerInRange('--limit-input-pixels', optionalNumber('limit-input-pixels', opts.limitInputPixels)!, 1, Number.MAX_SAFE_INTEGER);
      if (opts.image && !size) {
        const probe = await imageToTensor(opts.image, { limitInputPixels: limit });
        size = [Math.max(32, probe.shape[3] - (probe.shape[3] % 32)), Math.max(32, probe.shape[2] - (probe.shape[2] % 32))];
      }
      inputShapes = imageInputShapes(declared, size ?? [256, 256]);
      if (opts.image) {
        for (const d of declared) {
          const shape = inputShapes[d.name] ?? (d.dims.every((x) => typeof x === 'number') ? (d.dims as number[]) : null);
          if (shape && shape.length === 4 && (shape[1] === 3 || shape[3] === 3)) feeds[d.name] = await imageFeed(opts.image, shape, range, !!opts.bgr, limit);
        }
      }
      // Numbers as typed: 'abc' is named as such (Number() would report NaN).
      const report = await checkParity(model, { feeds, inputShapes, threads: optionalNumber('threads', opts.threads), atol: optionalNumber('atol', opts.atol), rtol: optionalNumber('rtol', opts.rtol) });
      if (opts.json) {
        const out = {
          ok: report.ok,
          atol: report.atol,
          rtol: report.rtol,
          inputs: report.inputs,
          // The range the image's pixels were mapped to (with --image only).
          ...(opts.image ? { range } : {}),
          // The same names and meanings as checkParity's OutputParity: worstIndex flat, worstAt per dimension.
          outputs: report.outputs.map((o) => ({ name: o.name, ok: o.ok, shape: o.shape, rms: o.rms, maxAbsErr: o.maxAbsErr, maxRelErr: o.maxRelErr, worstIndex: o.worstIndex, worstAt: o.worstAt, native: o.native, reference: o.reference, failing: o.failing, bothNaN: o.bothNaN })),
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        const lines = report.outputs.map(
          (o) => `${o.ok ? 'ok  ' : 'FAIL'} ${o.name} [${o.shape.join(',')}]  maxAbsErr ${o.maxAbsErr.toExponential(2)}  maxRelErr ${o.maxRelErr.toExponential(2)}  worst at [${o.worstAt.join(',')}]: ${o.native} vs ${o.reference}${o.failing ? `  (${o.failing} elements beyond atol ${report.atol} + rtol ${report.rtol})` : ''}${o.bothNaN ? `  (${o.bothNaN} elements NaN in both engines: the model outputs NaN)` : ''}`,
        );
        lines.push(report.ok ? 'parity: ok' : 'parity: FAILED');
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!report.ok) process.exitCode = 1;
    });
}
