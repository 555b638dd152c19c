// `facestyle stylize <image or folder> -o <file or folder>`: detect, align, stylize, paste back.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { FacestyleError, argumentError, isFacestyleError, readError } from '../errors.js';
import { drawFaces, sideBySide } from '../face/draw.js';
import { encodeRgbImage, formatFromPath, toRgbImage } from '../face/image.js';
import type { RgbImage } from '../face/types.js';
import { isDirectory, makeFolder, removeIfNoFiles, samePath, writeFileWhole } from '../files.js';
import { IMAGE_EXTENSIONS_TEXT, isImageFileName } from '../image/io.js';
import { facesFlag, optionalNumber, withFlagNames } from './args.js';
import { whileWritingFiles } from './signals.js';
import { type FaceStylizer, type FaceStylizerOptions, type FrameResult, createFaceStylizer, stylizeAlignedImage, warnIfAnimated } from '../face/stylize.js';
import * as is from '../is.js';

interface StylizeCliOptions {
  output: string;
  detectorEngine?: string;
  model?: string;
  size?: string;
  allFaces?: boolean;
  faces?: string;
  strength?: string;
  mirrorAverage?: boolean;
  debug?: boolean;
  compare?: boolean;
  json?: boolean;
  aligned?: boolean;
  device?: string;
  detector?: string;
  engine?: string;
  threshold?: string;
  concurrency?: string;
  limitInputPixels?: string;
  landmarks?: string;
  template?: string;
  quality?: string;
  minFace?: string;
  threads?: string;
}

const num = optionalNumber;

/** --faces, or --all-faces ('all'), else the largest face; both flags at once must agree. */
function facesChoice(o: StylizeCliOptions): FaceStylizerOptions['faces'] {
  const faces = facesFlag(o.faces);
  if (o.allFaces && faces !== undefined && faces !== 'all') throw argumentError(`--all-faces and --faces ${o.faces} disagree: give one of them`);
  return o.allFaces ? 'all' : (faces ?? 'largest');
}

/** createFaceStylizer's option names -> this command's flags, for error messages. */
const STYLIZE_FLAGS = {
  size: '--size',
  strength: '--strength',
  device: '--device',
  engine: '--engine',
  detectorEngine: '--detector-engine',
  scoreThreshold: '--threshold',
  minSize: '--min-face',
  template: '--template',
  threads: '--threads',
} as const;

/** `<base>.<tag><ext>` beside the output (`.debug`, `.compare`). */
const besidePath = (out: string, tag: string) => {
  const ext = path.extname(out);
  return out.slice(0, out.length - ext.length) + '.' + tag + ext;
};

/** Every file a job writes: its output, and the --debug / --compare pictures beside it. */
const writtenPaths = (job: { output: string }, o: StylizeCliOptions): string[] => [
  job.output,
  ...(o.debug ? [besidePath(job.output, 'debug')] : []),
  ...(o.compare ? [besidePath(job.output, 'compare')] : []),
];

/**
 * Refuses a run that would write over its input (`x.debug.jpg -o x.jpg --debug` writes x.debug.jpg) or
 * write one file twice (a folder holding both x.jpg and x.debug.jpg, with --debug). A folder's outputs go
 * to another folder (checked before), so only a single image is compared with what is written.
 */
function checkWrittenPaths(jobs: { input: string; output: string }[], o: StylizeCliOptions, folder: boolean): void {
  const seen = new Map<string, string>();
  for (const job of jobs) {
    for (const file of writtenPaths(job, o)) {
      if (!folder && samePath(job.input, file)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `This run would write '${file}', which is the input: choose another output`);
      // A folder where a picture goes (say a --debug name) failed the image after its output was written.
      if (isDirectory(file)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `This run would write '${file}', which is a folder: remove it or choose another output`);
      const key = path.resolve(file);
      const other = seen.get(key);
      if (other !== undefined) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Two inputs would write the same file '${file}' ('${other}' and '${job.input}'): rename one or choose another output`);
      seen.set(key, job.input);
    }
  }
}

/** One line progress bar on a TTY; one line per image otherwise. */
function progress(total: number) {
  const tty = process.stderr.isTTY === true;
  let done = 0;
  return {
    tick(name: string, note: string) {
      done += 1;
      if (tty) {
        const width = 30;
        const filled = Math.round((done / total) * width);
        process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${name.slice(0, 40).padEnd(40)}`);
        if (done === total) process.stderr.write('\n');
      } else process.stderr.write(`${done}/${total} ${name}: ${note}\n`);
    },
  };
}

async function processOne(stylizer: FaceStylizer, input: string, output: string, o: StylizeCliOptions, limit: number | undefined, quality: number): Promise<FrameResult> {
  const image = await toRgbImage(input, { limitInputPixels: limit, keepAlpha: true });
  const result = o.aligned ? await stylizeAlignedImage(stylizer, image) : await stylizer.stylizeFrame(image);
  if (image.alpha) result.image.alpha = image.alpha;
  await warnIfAnimated(input, result); // as stylizeFile does
  const pictures: Array<[string, RgbImage]> = [[output, result.image]];
  if (o.debug) pictures.push([besidePath(output, 'debug'), await drawFaces(image, result.faces)]);
  if (o.compare) pictures.push([besidePath(output, 'compare'), await sideBySide([{ data: image.data, width: image.width, height: image.height }, result.image])]);
  // All encoded before any is written: a --compare picture the format cannot hold (wider than WebP's
  // 16383 px) failed the image after its output had been written.
  const encoded = await Promise.all(pictures.map(([file, picture]) => encodeRgbImage(picture, formatFromPath(file), { quality })));
  for (const [i, [file]] of pictures.entries()) await writeFileWhole(file, async () => encoded[i]);
  return result;
}

/** The output folder the running command created (removed again if it is empty when the run stops). */
let folderMadeByRun: string | undefined;

/** --landmarks: 'auto' (PFLD when FACESTYLE_LANDMARKS or models/landmarks/pfld.onnx exists), 'off', or a path. */
function landmarksFlag(v: string | undefined): boolean | string {
  if (v === undefined || v === 'auto') return 'auto';
  if (v === 'off' || v === 'none') return false;
  return v;
}

const round = (t: Record<string, number>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v * 10) / 10]));

export async function runStylizeCommand(input: string, o: StylizeCliOptions): Promise<number> {
  if (!existsSync(input)) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Input not found: '${input}'`);
  const folder = statSync(input).isDirectory();
  let jobs: { input: string; output: string }[];
  if (folder) {
    let names: string[];
    try {
      names = readdirSync(input);
    } catch (e) {
      throw readError(e, `Input folder '${input}'`) ?? e;
    }
    // (A sub-folder named like an image, 'x.png', is no image: it counted as a failed one.)
    const files = names.filter((n) => isImageFileName(n) && !isDirectory(path.join(input, n))).sort();
    if (files.length === 0) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `No images in the folder '${input}' (looked for ${IMAGE_EXTENSIONS_TEXT})`);
    if (existsSync(o.output) && !statSync(o.output).isDirectory()) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `The input is a folder, so -o must be a folder but '${o.output}' is a file`);
    // Writing into the input folder would replace the originals one by one.
    if (samePath(input, o.output)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `-o '${o.output}' is the input folder: the originals would be overwritten; choose another folder`);
    if (!existsSync(o.output) && isImageFileName(o.output))
      throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `The input is a folder, so -o must be a folder, but '${o.output}' is named like an image file`);
    // An input whose format cannot be written keeps its name with .png added.
    jobs = files.map((f) => {
      let name = f;
      try {
        formatFromPath(f);
      } catch {
        name = `${f}.png`;
      }
      return { input: path.join(input, f), output: path.join(o.output, name) };
    });
  } else {
    const out = existsSync(o.output) && statSync(o.output).isDirectory() ? path.join(o.output, path.basename(input)) : o.output;
    formatFromPath(out);
    if (samePath(input, out)) throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `-o '${o.output}' is the input file: choose another output`);
    jobs = [{ input, output: out }];
  }
  checkWrittenPaths(jobs, o, folder);
  const outFolder = folder ? o.output : path.dirname(path.resolve(jobs[0].output));
  const quality = is.integerInRange('--quality', num('quality', o.quality) ?? 90, 1, 100);
  // sharp's pixel limit: a positive whole number of pixels (0 would turn the limit off; not offered here).
  const limit = o.limitInputPixels === undefined ? undefined : is.integerInRange('--limit-input-pixels', num('limit-input-pixels', o.limitInputPixels)!, 1, Number.MAX_SAFE_INTEGER);
  const concurrency = is.integerInRange('--concurrency', num('concurrency', o.concurrency) ?? 2, 1, 64);
  // createFaceStylizer checks every option before loading anything; its errors name the flags typed.
  const stylizer = await withFlagNames(STYLIZE_FLAGS, () =>
    createFaceStylizer({
      model: o.model,
      size: num('size', o.size),
      faces: facesChoice(o),
      strength: num('strength', o.strength),
      mirrorAverage: o.mirrorAverage === true,
      device: o.device as FaceStylizerOptions['device'],
      detector: o.detector,
      engine: o.engine as FaceStylizerOptions['engine'],
      detectorEngine: o.detectorEngine as FaceStylizerOptions['detectorEngine'],
      scoreThreshold: num('threshold', o.threshold),
      minSize: num('min-face', o.minFace),
      landmarks68: landmarksFlag(o.landmarks),
      template: o.template as FaceStylizerOptions['template'],
      threads: num('threads', o.threads),
    }),
  );
  // The detector and landmark files are loaded before any image (a missing one is one error, not one per image).
  if (!o.aligned) {
    try {
      await stylizer.prepare();
    } catch (e) {
      await stylizer.dispose();
      throw e;
    }
  }
  // The output folder is made once every option has been checked (a refused run leaves no folder behind).
  let createdFolder: string | undefined;
  try {
    createdFolder = makeFolder(outFolder);
    folderMadeByRun = createdFolder;
  } catch (e) {
    await stylizer.dispose();
    throw e;
  }
  const bar = folder ? progress(jobs.length) : null;
  const report: Record<string, unknown>[] = new Array(jobs.length);
  let failures = 0;
  let next = 0;
  // Bounded concurrency: `concurrency` workers take the next job until none is left.
  const worker = async () => {
    while (next < jobs.length) {
      const k = next++;
      const job = jobs[k];
      try {
        const r = await processOne(stylizer, job.input, job.output, o, limit, quality);
        report[k] = { input: job.input, output: job.output, faces: r.faces.map((f) => {
          const tenth = (p: readonly number[]) => p.map((v) => Math.round(v * 10) / 10);
          // The 68 points when PFLD ran (--landmarks auto with a model at hand, or a path): they placed the crop.
          return { box: tenth(f.box), score: Math.round(f.score * 1000) / 1000, landmarks: f.landmarks.map(tenth), ...(f.landmarks68 ? { landmarks68: f.landmarks68.map(tenth) } : {}) };
        }), timings: round({ ...r.timings }), warnings: r.warnings };
        for (const w of r.warnings) if (!o.json) process.stderr.write(`facestyle: ${job.input}: ${w}\n`);
        bar?.tick(path.basename(job.input), `${r.faces.length} face(s)`);
      } catch (e) {
        if (!folder) throw e;
        failures += 1;
        const code = isFacestyleError(e) ? ` [${e.code}]` : '';
        report[k] = { input: job.input, error: (e as Error).message, code: isFacestyleError(e) ? e.code : undefined };
        bar?.tick(path.basename(job.input), 'failed');
        // (On a TTY after the progress bar's line, which has no newline of its own.)
        process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}facestyle: ${job.input}: ${(e as Error).message}${code}\n`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  } finally {
    // A folder this run made and wrote nothing into (the detector or a model failed at the first image,
    // every image of a folder failed) is removed again.
    removeIfNoFiles(createdFolder);
    folderMadeByRun = undefined;
    await stylizer.dispose();
  }
  if (o.json) {
    // Totals over the run: ms per stage summed, and how many images they cover (the stylizer counts calls as frames).
    const { frames, ...stages } = stylizer.totalTimings;
    process.stdout.write(JSON.stringify({ images: report, totals: { ...round({ ...stages }), images: frames } }, null, 2) + '\n');
  }
  else if (!folder) {
    const r = report[0] as { faces: unknown[]; output: string };
    process.stderr.write(`${r.faces.length} face(s) -> ${r.output}\n`);
  } else {
    // A folder run ends with its count: how many were written, how many failed (each named above).
    const faces = report.reduce((n, r) => n + (Array.isArray(r.faces) ? r.faces.length : 0), 0);
    const written = jobs.length - failures;
    process.stderr.write(
      written ? `${written} of ${jobs.length} image(s) written to ${outFolder} (${faces} face(s))${failures ? `, ${failures} failed` : ''}\n` : `No image written: all ${jobs.length} failed${createdFolder ? ` (the folder ${outFolder} this run made was removed again)` : ''}\n`,
    );
  }
  return failures ? 1 : 0;
}

export function registerStylizeCommand(program: Command): void {
  program
    .command('stylize')
    .description('Stylize the faces of an image (or every image of a folder) and paste them back')
    .argument('<input>', 'image file or folder of images')
    .requiredOption('-o, --output <path>', 'output file (format from its extension) or folder')
    .option('--model <path>', 'stylization model: .onnx, model card .json or .safetensors or the name of a shipped model such as comic-light (default: the shipped model)')
    .option('--size <n>', 'aligned crop size (default: the model size, 512 for size-agnostic models)')
    .option('--all-faces', 'stylize every face (default: the largest only); the same as --faces all')
    .option('--faces <n|all|largest>', 'how many faces to stylize, the largest first (default: largest)')
    .option('--strength <x>', 'blend weight of the stylized face, 0..1', '1')
    .option('--mirror-average', 'also stylize each face mirrored and average the two: a little closer to the style, twice the model time')
    .option('--debug', 'also write <output>.debug.<ext> with boxes and landmarks drawn')
    .option('--compare', 'also write <output>.compare.<ext>: the input and the result side by side')
    .option('--json', 'print faces found and per-stage timings (ms) as JSON')
    .option('--aligned', 'the input is an aligned face crop: no detection, stylized whole')
    .option('--device <cpu|cuda>', 'where the model runs', 'cpu')
    .option('--detector <path>', 'YuNet .onnx (default: FACESTYLE_DETECTOR, then models/detection)')
    .option('--engine <native|onnxruntime>', 'how .onnx models run', 'native')
    .option('--detector-engine <onnxruntime|native|auto>', 'where the face detector runs (default: FACESTYLE_DETECTOR_ENGINE, else onnxruntime)')
    .option('--threshold <x>', 'detection score threshold', '0.5')
    .option('--concurrency <n>', 'images processed at once for a folder', '2')
    .option('--limit-input-pixels <n>', 'refuse images with more pixels than this')
    .option('--landmarks <auto|off|path>', '68-point PFLD model for FFHQ alignment: auto uses FACESTYLE_LANDMARKS or models/landmarks/pfld.onnx when present', 'auto')
    .option('--template <ffhq|ffhq-template|arcface>', 'alignment: the FFHQ procedure (default) or a least-squares 5-point template', 'ffhq')
    .option('--quality <n>', 'JPEG/WebP/AVIF/TIFF quality 1..100', '90')
    .option('--min-face <px>', 'ignore faces smaller than this (box side, image pixels)')
    .option('--threads <n>', 'CPU threads for the detector, landmarks and model, 0 for all', '0')
    .action(async (input: string, o: StylizeCliOptions) => {
      // Also removed on a stop: the output folder the run made, when nothing was written into it yet.
      process.exitCode = await whileWritingFiles('images not yet written were not written', () => runStylizeCommand(input, o), () => removeIfNoFiles(folderMadeByRun));
    });
}
