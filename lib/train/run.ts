// A whole training run on a pairs folder: data (with a held-out validation list), Trainer,
// checkpoints, sample grids, loss curve, final evaluation and the exported generator + card.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capabilities } from '../capabilities.js';
import { FacestyleError, argumentError, formatError, readError } from '../errors.js';
import { samePath, writeFileWhole } from '../files.js';
import type { Tensor } from '../graph/tensor.js';
import * as is from '../is.js';
import { shippedModelPath } from '../models.js';
import { generatorGraph } from '../nn/generator.js';
import { modelInfo } from '../nn/info.js';
import { locateGenerator } from '../nn/load.js';
import { FOLDER_NAMES, loadPairs } from './data.js';
import { writeLossCurve, writeSampleGrid } from './report.js';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from './safetensors.js';
import { type EvalReport, type StepReport, type TrainConfig, type TrainOptions, Trainer, checkInitWeights, checkRunCadence, defaultTrainConfig, trainConfig, writeRunConfig } from './trainer.js';

export interface RunOptions {
  pairs: string;
  out: string;
  /** Image size the pairs are resized to (validation runs at this size). */
  size?: number;
  config?: TrainOptions;
  /** File names held out for validation. */
  holdout?: string[];
  resume?: boolean;
  /** Start over in an `out` folder that already holds a run's checkpoint (default false: refused, so a long run is not lost by mistake). */
  overwrite?: boolean;
  /** Start from these generator weights (a .safetensors file of the same architecture), unless resuming. */
  initFrom?: string;
  checkpointEvery?: number;
  sampleEvery?: number;
  /** Stop (and finish cleanly) at this time, ms since the epoch. */
  deadline?: number;
  /**
   * Aborting it stops the run after the step (or checkpoint write) under way, without finishing it: the
   * promise rejects with a TrainingStoppedError saying the step and the last checkpoint to resume from.
   */
  signal?: AbortSignal;
  /** Called every `reportEvery` steps (default 10) and at the last step, with the losses and steps/s. */
  onStep?: (r: StepReport) => void;
  /** Steps between onStep calls (default 10; 1: every step). */
  reportEvery?: number;
  onLog?: (line: string) => void;
}

const RUN_OPTION_KEYS = is.optionKeys<RunOptions>()([
  'pairs', 'out', 'size', 'config', 'holdout', 'resume', 'overwrite', 'initFrom', 'checkpointEvery', 'sampleEvery', 'deadline', 'signal', 'onStep', 'reportEvery', 'onLog',
]);

export interface ModelCard {
  name: string;
  format: 'facestyle-generator';
  /** The weights file, relative to the card (as in the shipped models/*.json). */
  weights: string;
  generator: TrainConfig['generator'];
  input: { layout: 'NCHW'; channels: 'RGB'; range: [number, number]; sizeMultiple: number };
  params: number;
  macs: Record<string, number>;
  training: Record<string, unknown>;
  validation?: EvalReport & { files: string[] };
}

/**
 * The settings of the run a checkpoint continues: its training config from the checkpoint itself (what
 * the weights were trained with), size and holdout from the run folder's config.json. Keys missing from
 * them are left out (older runs), so they are not compared; a missing or damaged config.json is a coded
 * error naming it (NOT_FOUND / FORMAT).
 */
async function readRunConfig(dir: string, checkpoint: string): Promise<{ pairs?: string; size?: number; holdout?: string[]; config?: TrainConfig }> {
  // The run's config.json (written when it started) holds its size and held-out files: without it, or
  // with one damaged, a resume could not be checked to continue the same run.
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw readError(e, `The run's settings '${file}'`) ?? formatError(`Cannot read the run's settings '${file}': ${(e as Error).message}`, e);
  }
  let run: { pairs?: string; size?: number; holdout?: string[]; config?: TrainConfig };
  try {
    run = JSON.parse(text);
  } catch (e) {
    throw formatError(`The run's settings '${file}' are not JSON (${(e as Error).message}); the run cannot be checked to continue exactly`);
  }
  if (!is.object(run)) throw formatError(`The run's settings '${file}' are not an object of settings; the run cannot be checked to continue exactly`);
  const metadata = await readSafetensorsMetadata(checkpoint); // the header only: loadCheckpoint reads the tensors
  try {
    const config = metadata.config ? JSON.parse(metadata.config) : undefined;
    if (typeof config === 'object' && config !== null) run.config = config;
  } catch {
    /* a checkpoint whose config does not parse is refused by loadCheckpoint's own checks */
  }
  return run;
}

/**
 * A run stopped by its `signal` (Ctrl-C in the CLI). `step`: the steps done; `checkpoint`: the checkpoint
 * `resume` continues (null when none was written) and `checkpointStep` its step.
 */
export class TrainingStoppedError extends FacestyleError {
  constructor(readonly step: number, readonly checkpoint: string | null, readonly checkpointStep: number | null, previousRunKept = false) {
    super(
      'ERR_FACESTYLE_ABORTED',
      previousRunKept
        ? `Training stopped before it replaced the previous run: '${checkpoint}' and the rest of that run are as they were (--resume continues that run)`
        : checkpoint
          ? `Training stopped at step ${step}; the last checkpoint (step ${checkpointStep}) is '${checkpoint}': continue it with --resume (the same --out and settings)`
          : `Training stopped at step ${step}; no checkpoint was written (nothing to --resume)`,
    );
    this.name = 'TrainingStoppedError';
  }
}

/**
 * The run folder must be creatable: its nearest existing ancestor is a folder we may write into. A path
 * through a file (ENOTDIR) or a read-only place is ERR_FACESTYLE_ARGUMENT naming both paths, before
 * anything is read or written.
 */
async function checkOutCreatable(out: string): Promise<void> {
  let p = path.resolve(out);
  for (;;) {
    const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
      // A name too long, a loop of symbolic links, ...: the path's problem, named.
      const why = e.code === 'ENAMETOOLONG' ? 'a name in the path is too long for the file system' : e.code === 'ELOOP' ? 'its path goes through a loop of symbolic links' : e.message;
      throw new FacestyleError('ERR_FACESTYLE_ARGUMENT', `Cannot create the run folder '${out}': ${why}`, { cause: e });
    });
    if (st) {
      if (!st.isDirectory()) throw argumentError(`Cannot create the run folder '${out}': '${p}' is a file, not a folder`);
      const writable = await fs.access(p, fs.constants.W_OK).then(() => true, () => false);
      if (!writable) throw argumentError(`Cannot create the run folder '${out}': no permission to write in '${p}'`);
      return;
    }
    const parent = path.dirname(p);
    if (parent === p) return;
    p = parent;
  }
}

/** --device cuda needs the CUDA backend compiled in and a device: checked before any data is decoded. */
function checkDevice(device: TrainConfig['device']): void {
  if (device !== 'cuda') return;
  const c = capabilities().cuda;
  if (!c.compiled)
    throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', "Training on device 'cuda' needs the addon's CUDA backend, and this build has none (built without nvcc, or with FACESTYLE_CUDA=OFF): rebuild with nvcc installed, or train with --device cpu");
  // The same code as compile({ device: 'cuda' }) without a device (native/cuda/device.cu).
  if (!c.devices.length) throw new FacestyleError('ERR_FACESTYLE_UNSUPPORTED', `Training on device 'cuda' needs a CUDA device, and none was found (${c.error || 'no device'}): train with --device cpu`);
}

/** Generator weights to start from, read and checked (architecture, finite values) before any data is decoded. */
async function readInitWeights(file: string, config: TrainConfig): Promise<{ tensors: Map<string, Tensor>; ema: boolean }> {
  if (!is.string(file) || !file) throw is.invalid('initFrom', 'a .safetensors file path', file);
  // A shipped model by name ('comic-light'), as --model takes it: the weights its card names, found as
  // loadGenerator finds them.
  if (!(await fs.stat(file).then(() => true, () => false)) && shippedModelPath(file)) file = (await locateGenerator(file)).weights;
  const { tensors: all } = await readSafetensors(file);
  // A training checkpoint holds the raw weights (g.*) and their EMA (ema.g.*): start from the EMA ones,
  // the weights its samples, export and --model use.
  const ema = [...all.keys()].filter((k) => k.startsWith('ema.g.'));
  const tensors = ema.length ? new Map(ema.map((k) => [k.slice('ema.'.length), all.get(k)!])) : all;
  const graph = generatorGraph(config.generator, { height: config.crop, width: config.crop, initParams: false }); // names and shapes only
  checkInitWeights(tensors, graph.values.filter((v) => v.kind === 'param'), `Weights '${file}'${ema.length ? ' (its EMA weights)' : ''}`);
  return { tensors, ema: ema.length > 0 };
}

/** '1 training pair', '2 training pairs'. */
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** Files a run writes into its folder (removed when a run starts over in it with overwrite). */
const RUN_FILES = /^(checkpoint\.safetensors|generator\.safetensors|model\.json|config\.json|loss\.png|samples-.*\.png)$/;

/**
 * Resume is exact only with the run's own settings: every one that shapes the batches, the schedule or the
 * model must be as the run recorded it (the step count may grow; threads and device may change). A
 * difference is ERR_FACESTYLE_ARGUMENT listing each setting with the run's value, before anything is
 * read or written (config.json stays the run's).
 */
function checkResumeSettings(out: string, prior: Awaited<ReturnType<typeof readRunConfig>>, now: { pairs: string; samePairs: boolean; size: number; holdout: string[]; config: TrainConfig }): void {
  const diffs: string[] = [];
  // Other data would not continue the run either (and config.json and the card would then name it).
  if (!now.samePairs) diffs.push(`pairs: the run has ${JSON.stringify(prior.pairs)}, now ${JSON.stringify(now.pairs)}`);
  // The rest only for a run whose checkpoint says how it was trained (older ones did not).
  if (prior.config) {
    const free = new Set(['steps', 'threads', 'device']);
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    if (prior.size !== undefined && prior.size !== now.size) diffs.push(`size: the run has ${prior.size}, now ${now.size}`);
    if (prior.holdout !== undefined && !same(prior.holdout, now.holdout)) diffs.push(`holdout: the run has ${JSON.stringify(prior.holdout)}, now ${JSON.stringify(now.holdout)}`);
    for (const key of Object.keys(now.config) as (keyof TrainConfig)[]) {
      if (free.has(key) || !(key in prior.config)) continue;
      if (!same(prior.config[key], now.config[key])) diffs.push(`${key}: the run has ${JSON.stringify(prior.config[key])}, now ${JSON.stringify(now.config[key])}`);
    }
  }
  if (diffs.length)
    throw argumentError(`Resuming '${out}' with other settings than the run's would not continue it exactly; give the run's settings (its config.json):\n  ${diffs.join('\n  ')}`);
}

/** Run folders a runTraining of this process is writing into now. */
const activeRuns = new Set<string>();

export async function runTraining(o: RunOptions): Promise<{ card: ModelCard; generatorFile: string }> {
  if (!is.object(o)) throw is.invalid('training options', 'an object with pairs and out', o);
  is.knownOptions('runTraining', o, RUN_OPTION_KEYS);
  if (!is.string(o.out) || !o.out) throw is.invalid('out', 'a run folder path', o.out);
  for (const k of ['onStep', 'onLog'] as const) if (o[k] !== undefined && typeof o[k] !== 'function') throw is.invalid(k, 'a function', o[k]);
  // Two runs into one folder would interleave their checkpoints and samples (the "already holds a run"
  // check passes for both before either writes).
  const key = path.resolve(o.out);
  if (activeRuns.has(key)) throw argumentError(`A training run is already writing into '${o.out}' in this process; wait for it or choose another --out`);
  activeRuns.add(key);
  try {
    return await runTrainingIn(o);
  } finally {
    activeRuns.delete(key);
  }
}

async function runTrainingIn(o: RunOptions): Promise<{ card: ModelCard; generatorFile: string }> {
  const log = o.onLog ?? (() => {});
  if (!is.string(o.pairs) || !o.pairs) throw is.invalid('pairs', 'a pairs folder path', o.pairs);
  const size = o.size ?? 256;
  if (!(Number.isInteger(size) && size >= 8 && size <= 4096 && size % 8 === 0)) throw argumentError(`Expected a size in 8..4096 divisible by 8 but received ${size}`);
  // Checked before the spread below, which would turn a string or array into keys '0', '1', ...
  if (o.config !== undefined && !(is.object(o.config) && !Array.isArray(o.config))) throw is.invalid('config', 'an object of training options', o.config);
  // The default crop never exceeds a small size the caller chose.
  const config = trainConfig(o.config?.crop === undefined && size < defaultTrainConfig.crop ? { ...o.config, crop: size } : o.config);
  if (config.crop > size) throw argumentError(`Expected a crop of at most the size (${size}) but received ${config.crop}`);
  checkRunCadence(o);
  const holdout = o.holdout ?? [];
  // A single name as a string would be read as its characters.
  if (!Array.isArray(holdout) || !holdout.every((n) => is.string(n))) throw is.invalid('holdout', 'an array of pair file names', o.holdout);
  // Everything that can be checked without the data is checked first: nothing is decoded, and no run
  // folder created, for a run that is refused.
  checkDevice(config.device);
  // The run folder: a file there is refused; a finished or interrupted run is continued only with resume
  // and replaced only with overwrite, before any data is read.
  const outStat = await fs.stat(o.out).catch(() => null);
  if (outStat && !outStat.isDirectory()) throw argumentError(`The run folder '${o.out}' is a file; choose a folder`);
  if (!outStat) await checkOutCreatable(o.out);
  else if (!(await fs.access(o.out, fs.constants.W_OK).then(() => true, () => false)))
    throw argumentError(`Cannot write into the run folder '${o.out}': no permission to write there`);
  // The pairs folder, or one of its image folders, as the run folder: the run's PNGs would become pairs.
  const pairFolders = [o.pairs, ...FOLDER_NAMES.flat().map((f) => path.join(o.pairs, f))];
  if (pairFolders.some((f) => samePath(o.out, f))) throw argumentError(`The run folder '${o.out}' is the pairs folder '${o.pairs}' or one of its image folders: the run's images would be read as pairs; choose another --out`);
  const ckpt = path.join(o.out, 'checkpoint.safetensors');
  const hasCheckpoint = await fs.stat(ckpt).then(() => true, () => false);
  // Files a run writes, without a checkpoint (a run stopped before its first one, or files of the user's
  // that happen to share the names): replaced only with overwrite.
  const runFiles = outStat && !hasCheckpoint ? (await fs.readdir(o.out).catch(() => [])).filter((f) => RUN_FILES.test(f)) : [];
  if (runFiles.length && !o.resume && !o.overwrite)
    throw argumentError(`'${o.out}' holds files a run writes (${runFiles.slice(0, 4).join(', ')}${runFiles.length > 4 ? ', ...' : ''}) but no checkpoint: start over in it (--overwrite, which replaces them), or choose another --out`);
  if (o.resume && !hasCheckpoint) throw new FacestyleError('ERR_FACESTYLE_NOT_FOUND', `Nothing to resume: no checkpoint.safetensors in '${o.out}'`);
  if (!o.resume && hasCheckpoint && !o.overwrite)
    throw argumentError(`'${o.out}' already holds a run (checkpoint.safetensors): resume it (--resume), start over in it (--overwrite), or choose another --out`);
  if (o.resume) {
    const prior = await readRunConfig(o.out, ckpt);
    // The same folder however it is written (relative, through a link); a run folder whose config.json
    // names no pairs (an older run) is not compared.
    const where = (p: string) => fs.realpath(p).catch(() => path.resolve(p));
    const samePairs = !is.string(prior.pairs) || (await where(prior.pairs)) === (await where(o.pairs));
    checkResumeSettings(o.out, prior, { pairs: o.pairs, samePairs, size, holdout, config });
  }
  const resumeStep = o.resume ? Number((await readSafetensorsMetadata(ckpt)).step) : null;
  const initWeights = !o.resume && o.initFrom !== undefined ? await readInitWeights(o.initFrom, config) : null;
  // --overwrite clears the previous run only once the new one starts: a stop before that leaves it whole.
  let previousRunCleared = false;
  // What a stop leaves: the trainer's last checkpoint, or before the trainer has one, the checkpoint a
  // resumed run started from. The signal's reason rides along as the error's cause (stylizeVideo rejects
  // with the reason itself).
  const stopped = (trainer: Trainer | null) => {
    const at = trainer?.checkpointStep ?? resumeStep;
    const e =
      o.overwrite && !o.resume && hasCheckpoint && !previousRunCleared
        ? new TrainingStoppedError(0, ckpt, null, true)
        : new TrainingStoppedError(trainer?.step ?? resumeStep ?? 0, at === null ? null : ckpt, at);
    if (o.signal?.reason !== undefined) (e as Error).cause = o.signal.reason;
    return e;
  };
  const t0 = Date.now();
  const data = await loadPairs(o.pairs, { size, exclude: holdout });
  const validation = holdout.length ? await loadPairs(o.pairs, { size, only: holdout }) : null;
  log(`data: ${plural(data.pairs.length, 'training pair')}, ${plural(validation?.pairs.length ?? 0, 'validation pair')} at ${size}x${size} (${((Date.now() - t0) / 1000).toFixed(1)} s to decode)`);
  if (o.signal?.aborted) throw stopped(null);
  const trainer = new Trainer(config, data, o.out, validation);
  // Samples are written one at a time (they share the evaluation session), behind the training.
  let samples: Promise<unknown> = Promise.resolve();
  let callbackError: { error: unknown } | null = null;
  try {
    await trainer.init();
    if (o.resume) await trainer.loadCheckpoint(ckpt);
    else if (initWeights) await trainer.initGenerator(initWeights.tensors, `Weights '${o.initFrom}'`);
    if (o.signal?.aborted) throw stopped(trainer);
    // The run folder is created (or cleared) only now that the run is known to start. Starting over: the
    // previous run's files go first, so nothing of it (a checkpoint a later --resume would load, samples,
    // its card) is left beside the new run's.
    if (o.overwrite && !o.resume && outStat) for (const f of await fs.readdir(o.out)) if (RUN_FILES.test(f)) await fs.rm(path.join(o.out, f), { force: true });
    // Resuming a run that had ended: its card and exported weights are of the step it ended at, and a
    // loader prefers the card; until this run ends and writes its own, the folder's model is its checkpoint
    // (the same EMA weights as those files now, later ones after the next checkpoint).
    if (o.resume) for (const f of ['model.json', 'generator.safetensors']) await fs.rm(path.join(o.out, f), { force: true });
    previousRunCleared = true;
    // The pairs as an absolute path: a --resume from another working directory compares the same folder.
    await writeRunConfig(o.out, config, { pairs: path.resolve(o.pairs), size, holdout });
    if (o.resume) log(`resumed from ${ckpt} at step ${trainer.step}`);
    else if (initWeights) log(`initialised the generator from ${o.initFrom}${initWeights.ema ? ' (its EMA weights)' : ''}`);
    trainer.on('step', (r: StepReport) => o.onStep?.(r));
    // Sample grids show the validation pairs, or without held-out pairs the first training pairs (the
    // model has seen those: their figures are logged as training, never reported as validation).
    const samplePairs = validation ?? { ...data, pairs: data.pairs.slice(0, 4) };
    const writeSamples = (tag: string, outputs: Float32Array[]) =>
      writeSampleGrid(path.join(o.out, `samples-${tag}.png`), samplePairs.pairs.slice(0, 4).map((p, i) => [p.input, p.target, outputs[i]]), size);
    // One evaluation of the EMA weights of `step` (read when it was due): its sample grid, loss curve and
    // log line. Returns the validation report (null without validation pairs).
    let last: { step: number; report: EvalReport; outputs: Float32Array[] } | null = null;
    const evaluateAt = async (step: number, weights: Map<string, Tensor>, tag: string) => {
      const { report, outputs } = await trainer.evaluate(samplePairs, weights);
      await writeSamples(tag, outputs);
      await writeLossCurve(path.join(o.out, 'loss.png'), trainer.history.filter((h) => h.step < step).map((h) => [h.step + 1, h.loss])); // x: steps done
      const figures = `L1 ${report.l1.toFixed(4)} PSNR ${report.psnr.toFixed(2)} dB (identity ${report.identityPsnr.toFixed(2)} dB)`;
      last = { step, report, outputs };
      if (!validation) {
        log(`sample @${step}: on ${samplePairs.pairs.length} training pairs (no --holdout): ${figures}`);
        return null;
      }
      log(`eval @${step}: val ${figures}`);
      return report;
    };
    // Each sample from the EMA weights of the step it is named after, taken when it is due (training has
    // moved on by the time its turn comes); after a stop, samples still queued are dropped (a stop waits
    // for the one being written only).
    trainer.on('sample-due', (step: number) => {
      const weights = trainer.emaWeights();
      samples = samples
        .then(() => (o.signal?.aborted ? null : evaluateAt(step, weights, String(step).padStart(6, '0'))))
        .catch((e) => log(`sample failed: ${(e as Error).message}`))
        // A throwing onLog must not become an unhandled rejection (the chain is awaited only later):
        // the run fails with its error once training stops.
        .catch((e) => void (callbackError ??= { error: e }));
    });
    const trainStart = Date.now();
    const stepStart = trainer.step;
    await trainer.train({ checkpointEvery: o.checkpointEvery ?? 200, sampleEvery: o.sampleEvery, deadline: o.deadline, signal: o.signal, reportEvery: o.reportEvery });
    const wall = (Date.now() - trainStart) / 1000;
    if (o.signal?.aborted) {
      await samples;
      throw stopped(trainer);
    }
    if (trainer.step < config.steps)
      log(`time limit reached: stopped at step ${trainer.step} of ${config.steps}; the run is complete up to there (continue it with --resume and a later --time-limit)`);
    await trainer.saveCheckpoint();
    await samples;
    if (callbackError) throw (callbackError as { error: unknown }).error;
    // The final evaluation; when the last sample was of this very step, its evaluation is the final one
    // (evaluated and logged once).
    const lastEval = last as { step: number; report: EvalReport; outputs: Float32Array[] } | null;
    let report: EvalReport | null;
    if (lastEval?.step === trainer.step) {
      await writeSamples('final', lastEval.outputs);
      report = validation ? lastEval.report : null;
    } else report = await evaluateAt(trainer.step, trainer.emaWeights(), 'final');
    // The EMA generator is the exported one.
    const generatorFile = path.join(o.out, 'generator.safetensors');
    await writeSafetensors(generatorFile, trainer.emaWeights(), { format: 'facestyle-generator', generator: JSON.stringify(config.generator) });
    const info = (s: number) => modelInfo(generatorGraph(config.generator, { height: s, width: s }));
    const card: ModelCard = {
      name: path.basename(o.out),
      format: 'facestyle-generator',
      weights: path.basename(generatorFile),
      generator: config.generator,
      input: { layout: 'NCHW', channels: 'RGB', range: [-1, 1], sizeMultiple: 8 },
      params: info(256).params,
      macs: { '256': info(256).macs, '512': info(512).macs },
      training: {
        pairs: path.resolve(o.pairs),
        size,
        trainPairs: data.pairs.length,
        steps: trainer.step,
        stepsThisRun: trainer.step - stepStart,
        wallSeconds: Math.round(wall),
        device: config.device === 'cpu' ? `cpu (${os.cpus()[0]?.model ?? 'unknown'}, threads ${config.threads || 'all'})` : config.device,
        config,
        finalLoss: trainer.history.at(-1)?.loss,
      },
      ...(report && validation ? { validation: { ...report, files: validation.pairs.map((p) => p.name) } } : {}),
    };
    const cardText = JSON.stringify(card, null, 2);
    await writeFileWhole(path.join(o.out, 'model.json'), async () => new TextEncoder().encode(cardText));
    return { card, generatorFile };
  } finally {
    await samples; // an evaluation still running uses the trainer's session
    trainer.dispose();
  }
}
