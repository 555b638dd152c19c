// `facestyle export <run dir | checkpoint | model card> --onnx <file>`: the trained (EMA) generator
// as an ONNX model for mobile runtimes.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { FacestyleError, argumentError } from '../errors.js';
import { loadGenerator } from '../nn/load.js';
import { isGeneratorSource, makeParentFolder, removeIfNoFiles, writeFileWhole } from '../files.js';
import { exportOnnxBuffer } from '../onnx/index.js';
import { decimal, optionalNumber } from './args.js';
import { whileWritingFiles } from './signals.js';
import { resolveModelName } from '../models.js';

/** The generator graph from a run dir, a model card/weights file or a training checkpoint. */
export async function generatorFromAnything(source: string, size: number): Promise<import('../graph/ir.js').Graph> {
  const stat = await fs.stat(source).catch(() => null);
  if (!stat) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Not found: ${source}`);
  // Only what this exporter reads: anything else (an .onnx model, an image) would be read as a card and
  // fail with a JSON parse error that does not say what was expected.
  const ext = path.extname(source).toLowerCase();
  if (stat.isFile() && !isGeneratorSource(source))
    throw argumentError(
      `Cannot export '${source}': export reads a run folder, a training checkpoint (.safetensors), generator weights (.safetensors) or a model card (.json)` +
        (ext === '.onnx' ? '; this is already an ONNX model (check it with `facestyle check`, or use it as is with --model)' : ''),
    );
  return (await loadGenerator(source, { size })).graph;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('Export a trained generator (run folder, checkpoint, or model card) to ONNX')
    .argument('<source>', 'run folder, checkpoint.safetensors, model .json or .safetensors')
    .requiredOption('--onnx <file>', 'output .onnx file')
    .option('--opset <n>', 'ONNX opset (11-17)', '13')
    .option('--fp16', 'store weights as float16')
    .option('--size <n>', 'input size the graph is built at (H and W are declared dynamic)', '256')
    .action(async (given: string, o) => {
      const source = resolveModelName(given); // a shipped model by name too ('comic-light')
      const size = decimal(String(o.size));
      if (!Number.isInteger(size) || size % 8 !== 0 || size < 8) throw argumentError(`Expected --size divisible by 8 but received ${o.size}`);
      // An .onnx name only: a checkpoint, weights or card path given by mistake would be overwritten.
      if (path.extname(String(o.onnx)).toLowerCase() !== '.onnx') throw argumentError(`Expected an --onnx file name ending in .onnx but received '${o.onnx}'`);
      const graph = await generatorFromAnything(source, size);
      const bytes = exportOnnxBuffer(graph, { opset: optionalNumber('opset', o.opset), weights: o.fp16 ? 'fp16' : 'fp32', dynamicSpatial: true, docString: `facestyle light generator from ${path.basename(source)}` });
      // Written off the main thread, so that Ctrl-C or kill during a large write removes the hidden temp file
      // (an existing model stays as it was) and ends by the signal, as stylize does.
      // A missing output folder is made (as stylize and video do), and removed again if the write fails.
      const made = makeParentFolder(o.onnx);
      try {
        await whileWritingFiles(`${o.onnx} was not written`, () => writeFileWhole(o.onnx, async () => bytes), () => removeIfNoFiles(made));
      } catch (e) {
        removeIfNoFiles(made);
        throw e;
      }
      process.stdout.write(`${o.onnx}\n`);
    });
}
