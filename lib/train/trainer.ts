// The Trainer for paired image-to-image data. It owns one step graph (generator forward + losses
// + backward + AdamW + weight EMA, run in ONE native call per step), the batch queue, checkpoints
// (safetensors, temp file + rename) and exact resume: batches and schedules are pure functions of
// (seed, step), and the checkpoint holds weights, EMA and optimizer state.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { FacestyleError, argumentError, formatError } from '../errors.js';
import { writeFileWhole } from '../files.js';
import * as is from '../is.js';
import { gradientsOfSum, type GradientTerm } from '../graph/autodiff.js';
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { Graph } from '../graph/ir.js';
import { Tensor } from '../graph/tensor.js';
import { type DiscriminatorConfig, buildDiscriminator, discriminatorConfig } from '../nn/discriminator.js';
import { buildGenerator, generatorConfig, generatorGraph, type GeneratorConfig } from '../nn/generator.js';
import { checkFiniteWeights, checkWeightsFit } from '../nn/load.js';
import { type DeviceName, type Session, compile } from '../runtime/session.js';
import { type AugmentOptions, BatchQueue, type PairDataset, augmentOptions, makeBatch } from './data.js';
import { colorLoss, edgeLoss, l1Loss, meanAbs, psnr, styleLoss } from './losses.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export interface LossWeights {
  l1: number;
  /** Mean squared error (what PSNR measures). */
  mse: number;
  color: number;
  edge: number;
  /** LSGAN adversarial loss of the generator (0: no discriminator). */
  adv: number;
  /** Discriminator feature matching (L1 between real and fake activations). */
  fm: number;
  /** Total variation of the output. */
  tv: number;
  /** Style: Gram matrices of the discriminator's features of output vs target (MSE). */
  style: number;
}

export type GanLoss = 'lsgan' | 'hinge' | 'bce';

/** A GAN loss term on discriminator scores: for D (real or fake side) or for G (wants "real"). */
function ganTerm(b: GraphBuilder, kind: GanLoss, scores: Sym, role: 'real' | 'fake' | 'generator', name: string): Sym {
  if (kind === 'hinge') return b.op1('HingeLoss', [scores], { sign: role === 'real' ? 1 : role === 'fake' ? -1 : 0 }, name);
  const target = role === 'fake' ? 0 : 1;
  return kind === 'bce' ? b.op1('BceLogitsLoss', [scores], { target }, name) : b.op1('LsganLoss', [scores], { target }, name);
}

export interface TrainConfig {
  /** Training crop side (divisible by 8). */
  crop: number;
  batch: number;
  /** Total steps of the schedule (the learning rate decays to lrMin at the last step). */
  steps: number;
  lr: number;
  lrMin: number;
  warmupSteps: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  /** Gradient clipping by global norm; 0 disables. */
  clipNorm: number;
  emaDecay: number;
  losses: LossWeights;
  augment: AugmentOptions;
  generator: GeneratorConfig;
  discriminator: DiscriminatorConfig;
  /** Adversarial loss form: least squares (default), hinge or non-saturating BCE. */
  ganLoss: GanLoss;
  /** Discriminator learning rate (same schedule shape as lr). */
  dLr: number;
  seed: number;
  threads: number;
  device: DeviceName;
}

export const defaultTrainConfig: TrainConfig = {
  crop: 128,
  batch: 4,
  steps: 2000,
  lr: 2e-3,
  lrMin: 1e-4,
  warmupSteps: 50,
  beta1: 0.9,
  beta2: 0.99,
  weightDecay: 0,
  clipNorm: 0,
  emaDecay: 0.995,
  losses: { l1: 1, mse: 0, color: 0.5, edge: 0.1, adv: 0, fm: 0, tv: 0, style: 0 },
  ganLoss: 'lsgan',
  augment: { flip: 0.5, minScale: 0.6 },
  generator: generatorConfig(),
  discriminator: discriminatorConfig(),
  dLr: 1e-3,
  seed: 1,
  threads: 0,
  device: 'cpu',
};

/** TrainConfig with every field optional (nested ones too). */
export type TrainOptions = Partial<Omit<TrainConfig, 'losses' | 'generator' | 'discriminator'>> & {
  losses?: Partial<LossWeights>;
  generator?: Partial<GeneratorConfig>;
  discriminator?: Partial<DiscriminatorConfig>;
};

/** The entries of `o` whose value is not undefined: an option given as undefined takes its default. */
const given = <T extends object>(o: T | undefined): Partial<T> => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

/** The keys of each nested group of training options (compile-time complete, see is.optionKeys). */
const NESTED_OPTION_KEYS: [keyof TrainConfig & ('losses' | 'augment' | 'generator' | 'discriminator'), readonly string[]][] = [
  ['losses', is.optionKeys<LossWeights>()(['l1', 'mse', 'color', 'edge', 'adv', 'fm', 'tv', 'style'])],
  ['augment', is.optionKeys<Omit<AugmentOptions, 'crop'>>()(['flip', 'minScale', 'rotate', 'jitter', 'saturation', 'cutmix'])],
  ['generator', is.optionKeys<GeneratorConfig>()(['arch', 'channels', 'width', 'resBlocks', 'alpha', 'upsample', 'pad', 'norm', 'block', 'expand', 'residual'])],
  ['discriminator', is.optionKeys<DiscriminatorConfig>()(['channels', 'downLayers', 'scales', 'spectralNorm'])],
];

export function trainConfig(options: TrainOptions = {}): TrainConfig {
  // An object of options (a string or array was spread into keys '0', '1', ...).
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw is.invalid('training options', 'an object', options);
  const partial = given(options);
  // A misspelt option (warmup for warmupSteps) would otherwise be dropped without a word.
  // (Own keys: 'toString' or 'constructor' are no options.)
  for (const k of Object.keys(partial))
    if (!Object.hasOwn(defaultTrainConfig, k)) throw argumentError(`Unknown training option '${k}' (known: ${Object.keys(defaultTrainConfig).join(', ')})`);
  if (partial.augment !== undefined && is.object(partial.augment) && (partial.augment as AugmentOptions).crop !== undefined)
    throw argumentError(`Expected the training crop as crop, not augment.crop (it is the crop every augmented sample is cut to)`);
  // The nested groups are objects of known keys too: generator.resblocks trained with the default resBlocks
  // and was written into config.json and the card; augment: 'flip' was spread into keys '0'..'3'.
  for (const [group, keys] of NESTED_OPTION_KEYS) {
    const v = partial[group];
    if (v === undefined) continue;
    if (!is.object(v) || Array.isArray(v)) throw is.invalid(group, 'an object of options', v);
    is.knownOptions(`training option ${group}`, v, keys);
  }
  const c: TrainConfig = {
    ...defaultTrainConfig,
    ...partial,
    losses: { ...defaultTrainConfig.losses, ...given(partial.losses) },
    augment: { ...defaultTrainConfig.augment, ...given(partial.augment) },
    generator: generatorConfig(given(partial.generator)),
    discriminator: discriminatorConfig(given(partial.discriminator)),
  };
  // Numbers must be numbers: '0.01' compares and multiplies like one in places and concatenates in others.
  for (const [k, v] of Object.entries(defaultTrainConfig))
    if (typeof v === 'number' && typeof c[k as keyof TrainConfig] !== 'number') throw is.invalid(k, 'a number', c[k as keyof TrainConfig]);
  for (const [k, v] of Object.entries(c.losses)) if (typeof v !== 'number') throw is.invalid(`losses.${k}`, 'a number', v);
  // The default floor of the schedule never lies above a low learning rate the caller chose.
  if (partial.lrMin === undefined && typeof c.lr === 'number') c.lrMin = Math.min(defaultTrainConfig.lrMin, c.lr);
  const posInt = (k: keyof TrainConfig) => {
    if (!Number.isInteger(c[k]) || (c[k] as number) < 1) throw argumentError(`Expected positive integer for ${k} but received ${c[k]}`);
  };
  posInt('crop');
  posInt('batch');
  posInt('steps');
  if (c.crop % 8 !== 0) throw argumentError(`Expected crop divisible by 8 but received ${c.crop}`);
  if (!(c.lr > 0 && Number.isFinite(c.lr))) throw argumentError(`Expected a positive, finite lr but received ${c.lr}`);
  if (!['lsgan', 'hinge', 'bce'].includes(c.ganLoss)) throw argumentError(`Expected ganLoss lsgan, hinge or bce but received '${c.ganLoss}'`);
  if (!(c.emaDecay >= 0 && c.emaDecay < 1)) throw argumentError(`Expected emaDecay in [0, 1) but received ${c.emaDecay}`);
  // A negative lrMin turns the end of the cosine schedule into gradient ascent; negative loss weights or
  // clip norm have no meaning (and were silently dropped).
  if (!(c.lrMin >= 0 && c.lrMin <= c.lr)) throw argumentError(`Expected lrMin in [0, lr = ${c.lr}] but received ${c.lrMin} (CLI: --lr-min at most --lr)`);
  if (!Number.isSafeInteger(c.seed)) throw argumentError(`Expected a whole-number seed but received ${c.seed}`);
  if (!(Number.isInteger(c.warmupSteps) && c.warmupSteps >= 0)) throw argumentError(`Expected a non-negative integer warmupSteps but received ${c.warmupSteps}`);
  if (!(c.clipNorm >= 0 && Number.isFinite(c.clipNorm))) throw argumentError(`Expected clipNorm >= 0 (0: off) but received ${c.clipNorm}`);
  if (!(c.weightDecay >= 0 && Number.isFinite(c.weightDecay))) throw argumentError(`Expected weightDecay >= 0 but received ${c.weightDecay}`);
  if (!(c.dLr > 0 && Number.isFinite(c.dLr))) throw argumentError(`Expected a positive dLr but received ${c.dLr}`);
  for (const b of ['beta1', 'beta2'] as const) if (!(c[b] >= 0 && c[b] < 1)) throw argumentError(`Expected ${b} in [0, 1) but received ${c[b]}`);
  for (const [k, v] of Object.entries(c.losses)) if (!(Number.isFinite(v) && v >= 0)) throw argumentError(`Expected loss weight ${k} >= 0 but received ${v}`);
  // Every positive weight adds a loss term (buildStepGraph): with none there is nothing to train.
  if (!Object.values(c.losses).some((v) => v > 0)) throw argumentError(`Expected at least one loss with a positive weight but all are 0 (CLI: --l1, --mse, --color, --edge, --adv, --fm, --tv, --style)`);
  if (c.device !== 'cpu' && c.device !== 'cuda') throw argumentError(`Expected device 'cpu' or 'cuda' but received '${c.device}'`);
  if (!(Number.isInteger(c.threads) && c.threads >= 0 && c.threads <= 1024)) throw argumentError(`Expected threads in 0..1024 (0: all cores) but received ${c.threads}`);
  augmentOptions(c.augment, c.crop);
  return c;
}

/** Learning rate of step t (0-based): linear warm-up, then cosine from lr to lrMin. */
export function learningRate(c: TrainConfig, t: number): number {
  if (t < c.warmupSteps) return (c.lr * (t + 1)) / c.warmupSteps;
  const p = Math.min(1, (t - c.warmupSteps) / Math.max(1, c.steps - c.warmupSteps));
  return c.lrMin + 0.5 * (c.lr - c.lrMin) * (1 + Math.cos(Math.PI * p));
}

/** EMA decay with warm-up: min(decay, (1 + t) / (10 + t)), so early averages are not stuck at init. */
export const emaDecayAt = (decay: number, t: number): number => Math.min(decay, (1 + t) / (10 + t));

export interface StepGraph {
  graph: Graph;
  /** Names of the trained weights (generator params). */
  weights: string[];
  /** Loss term output names, in order. */
  lossNames: string[];
  /** Weight of each loss term in the total. */
  lossWeights: number[];
}

/** Builds the generator step graph: forward, weighted losses, backward, AdamW, EMA. */
export function buildStepGraph(c: TrainConfig): StepGraph {
  const b = new GraphBuilder('generator_step', { seed: c.seed });
  const x = b.input('photo', [c.batch, 3, c.crop, c.crop]);
  const t = b.input('target', [c.batch, 3, c.crop, c.crop]);
  const pred = buildGenerator(b, x, c.generator, 'g');
  const weights = paramsUsed(b);
  const terms: (GradientTerm & { name: string })[] = [];
  if (c.losses.l1 > 0) terms.push({ name: 'l1', output: l1Loss(b, pred, t), weight: c.losses.l1 });
  if (c.losses.mse > 0) terms.push({ name: 'mse', output: b.op1('MseLoss', [pred, t], {}, 'loss.mse'), weight: c.losses.mse });
  if (c.losses.color > 0) terms.push({ name: 'color', output: colorLoss(b, pred, t), weight: c.losses.color });
  if (c.losses.edge > 0) terms.push({ name: 'edge', output: edgeLoss(b, pred, t), weight: c.losses.edge });
  if (c.losses.tv > 0) terms.push({ name: 'tv', output: b.op1('TotalVariationLoss', [pred], {}, 'loss.tv'), weight: c.losses.tv });
  if (usesGan(c)) {
    // The discriminator's weights are parameters here too, but frozen: the D step graph trains
    // them and the Trainer copies them in before every generator step.
    // With several scales each term is averaged over them (names get the scale's index).
    const fake = buildDiscriminator(b, pred, c.discriminator, 'd', 'fake');
    const ns = fake.scales.length;
    const tag = (base: string, s: number) => (s === 0 ? base : `${base}_s${s}`);
    if (c.losses.adv > 0) fake.scales.forEach((sc, s) => terms.push({ name: tag('adv', s), output: ganTerm(b, c.ganLoss, sc.scores, 'generator', `loss.${tag('adv', s)}`), weight: c.losses.adv / ns }));
    if (c.losses.fm > 0 || c.losses.style > 0) {
      const real = buildDiscriminator(b, t, c.discriminator, 'd', 'real');
      fake.scales.forEach((sc, s) => {
        const rf = real.scales[s].features;
        sc.features.forEach((f, i) => {
          if (c.losses.fm > 0) terms.push({ name: tag(`fm${i}`, s), output: l1Loss(b, f, rf[i], `loss.${tag(`fm${i}`, s)}`), weight: c.losses.fm / sc.features.length / ns });
          if (c.losses.style > 0) terms.push({ name: tag(`style${i}`, s), output: styleLoss(b, f, rf[i], `loss.${tag(`style${i}`, s)}`), weight: c.losses.style / sc.features.length / ns });
        });
      });
    }
    b.output(pred, 'out.pred');
  }
  if (!terms.length) throw argumentError('Expected at least one loss with a positive weight');
  const trained = weights.filter((w) => !w.name.startsWith('d.'));
  const grads = gradientsOfSum(b, terms, trained);
  const clip = adamUpdates(b, c, trained, grads, 'opt', true);
  for (const term of terms) b.output(term.output, `out.${term.name}`);
  if (clip) b.output(clip, 'out.gradnorm');
  return { graph: b.build(), weights: weights.filter((w) => !w.name.startsWith('d.')).map((w) => w.name), lossNames: terms.map((term) => term.name), lossWeights: terms.map((term) => term.weight ?? 1) };
}

const usesGan = (c: TrainConfig) => c.losses.adv > 0 || c.losses.fm > 0 || c.losses.style > 0;

/** The trainable params the graph's nodes read so far (in first-use order; not spectral-norm state). */
function paramsUsed(b: GraphBuilder): Sym[] {
  return b.nodeList.flatMap((n) => n.inputs).filter((id, i, a) => id >= 0 && a.indexOf(id) === i).map((id) => b.sym(id)).filter((s) => b.kindOf(s) === 'param' && !s.name.includes('.sn.'));
}

/** AdamW (and optionally EMA) updates for `weights`; returns the clip value when clipping. */
function adamUpdates(b: GraphBuilder, c: TrainConfig, weights: Sym[], grads: (Sym | null)[], prefix: string, ema: boolean): Sym | null {
  const scalars = b.input(`${prefix}.scalars`, [3]);
  const decay = ema ? b.input('ema.decay', [1]) : null;
  const clip = c.clipNorm > 0 ? b.op1('GlobalNormClip', grads.filter((g): g is Sym => !!g), { max_norm: c.clipNorm }, `${prefix}.clip`) : null;
  weights.forEach((w, i) => {
    const g = grads[i];
    if (!g) return;
    const m = b.param(`${prefix}.m.${w.name}`, w.shape, 'zeros');
    const v = b.param(`${prefix}.v.${w.name}`, w.shape, 'zeros');
    const ins = [w, g, m, v, scalars, ...(clip ? [clip] : [])];
    const [w2, m2, v2] = b.op('AdamUpdate', ins, { beta1: c.beta1, beta2: c.beta2, epsilon: 1e-8, weight_decay: c.weightDecay }, `${prefix}.adam.${w.name}`);
    b.update(w2, w);
    b.update(m2, m);
    b.update(v2, v);
    if (decay) {
      const e = b.param(`ema.${w.name}`, w.shape, b.dataOf(w)!);
      b.update(b.op1('EmaUpdate', [e, w2, decay], {}, `${prefix}.ema.${w.name}`), e);
    }
  });
  return clip;
}

/** The discriminator step graph: LSGAN on D(target) (real) and D(fake), AdamW on D's weights. */
export function buildDiscriminatorStepGraph(c: TrainConfig): StepGraph {
  const b = new GraphBuilder('discriminator_step', { seed: c.seed + 1000 });
  const fake = b.input('fake', [c.batch, 3, c.crop, c.crop]);
  const t = b.input('target', [c.batch, 3, c.crop, c.crop]);
  // Only the first branch writes the spectral-norm power iteration (the second reuses W / sigma).
  const real = buildDiscriminator(b, t, c.discriminator, 'd', 'real', { updateSpectralNorm: true });
  const fk = buildDiscriminator(b, fake, c.discriminator, 'd', 'fake');
  const weights = paramsUsed(b);
  const ns = real.scales.length;
  const tag = (base: string, s: number) => (s === 0 ? base : `${base}_s${s}`);
  const terms = real.scales.flatMap((r, s) => [
    { name: tag('d_real', s), output: ganTerm(b, c.ganLoss, r.scores, 'real', `loss.${tag('d_real', s)}`), weight: 0.5 / ns },
    { name: tag('d_fake', s), output: ganTerm(b, c.ganLoss, fk.scales[s].scores, 'fake', `loss.${tag('d_fake', s)}`), weight: 0.5 / ns },
  ]);
  adamUpdates(b, c, weights, gradientsOfSum(b, terms, weights), 'dopt', false);
  for (const term of terms) b.output(term.output, `out.${term.name}`);
  return { graph: b.build(), weights: weights.map((w) => w.name), lossNames: terms.map((x) => x.name), lossWeights: terms.map((x) => x.weight) };
}

export interface StepReport {
  step: number;
  loss: number;
  terms: Record<string, number>;
  lr: number;
  /** Steps per second over the last report interval. */
  stepsPerSecond: number;
}

export interface EvalReport {
  l1: number;
  psnr: number;
  identityL1: number;
  identityPsnr: number;
  count: number;
}

const CHECKPOINT_FORMAT = 'facestyle-train-checkpoint';

/**
 * Trains a generator on pairs. Events: 'step' (StepReport), 'checkpoint' (file), 'sample' (file).
 */
export class Trainer extends EventEmitter {
  readonly step_: StepGraph;
  readonly dStep: StepGraph | null;
  private session: Session | null = null;
  private dSession: Session | null = null;
  private evalSession: Session | null = null;
  step = 0;
  /** A checkpoint of this run exists: written by this trainer or resumed from (error messages say so). */
  private checkpointed = false;
  /** The step of the last checkpoint written by this trainer or resumed from (null: none yet). */
  checkpointStep: number | null = null;
  readonly history: { step: number; loss: number; terms: Record<string, number> }[] = [];

  constructor(readonly config: TrainConfig, readonly data: PairDataset, readonly outDir: string, readonly validation: PairDataset | null = null) {
    if (!is.object(config)) throw is.invalid('config', 'a TrainConfig (from trainConfig())', config);
    checkPairDataset(data, 'data');
    if (validation !== null) checkPairDataset(validation, 'validation');
    if (!is.string(outDir)) throw is.invalid('outDir', 'a folder path', outDir);
    super();
    if (data.pairs.length === 0) throw argumentError('Expected a dataset with at least one pair');
    if (config.crop > data.size) throw argumentError(`Crop ${config.crop} is larger than the dataset size ${data.size}`);
    this.step_ = buildStepGraph(config);
    this.dStep = usesGan(config) ? buildDiscriminatorStepGraph(config) : null;
  }

  async init(): Promise<void> {
    this.checkUsable();
    // Calls at once (train() with evaluate(), or two init()) share one compile: each used to compile its own
    // step session and the later one replaced the first under a running train() (its Adam state lost, the
    // first session never disposed).
    this.initializing ??= this.compileSessions().finally(() => (this.initializing = null));
    return this.initializing;
  }

  private initializing: Promise<void> | null = null;

  /** A session compiled for this Trainer, or ERR_FACESTYLE_DISPOSED (and the session disposed) when dispose() came meanwhile. */
  private async compileOwn(graph: Graph): Promise<Session> {
    const s = await compile(graph, { device: this.config.device, threads: this.config.threads });
    if (this.disposed) {
      s.dispose();
      this.checkUsable();
    }
    return s;
  }

  private async compileSessions(): Promise<void> {
    if (!this.session) this.session = await this.compileOwn(this.step_.graph);
    if (this.dStep && !this.dSession) {
      this.dSession = await this.compileOwn(this.dStep.graph);
      this.syncDiscriminator();
    }
  }

  /** Copies the discriminator's weights (and spectral-norm state) from its step graph into the generator's (frozen copy). */
  private syncDiscriminator(): void {
    if (!this.dStep || !this.dSession) return;
    for (const name of this.dShared) this.live.writeParam(name, this.dSession.readParam(name));
  }

  /** Names of the discriminator params both step graphs hold. */
  private get dShared(): string[] {
    const inG = new Set(this.step_.graph.values.filter((v) => v.kind === 'param').map((v) => v.name));
    return (this.dStep?.graph.values ?? []).filter((v) => v.kind === 'param' && v.name.startsWith('d.') && inG.has(v.name)).map((v) => v.name);
  }

  private get live(): Session {
    this.checkUsable();
    // A call made too early is the caller's to fix, not a bug of the package (it was ERR_FACESTYLE_INTERNAL).
    if (!this.session) throw argumentError('This Trainer has no weights yet: await trainer.init() (or train()) first');
    return this.session;
  }

  private disposed = false;
  private training = false;

  /** After dispose() every call is ERR_FACESTYLE_DISPOSED (init() would otherwise start over from the initial weights). */
  private checkUsable(): void {
    if (this.disposed) throw new FacestyleError('ERR_FACESTYLE_DISPOSED', 'This Trainer was disposed; create a new one (and loadCheckpoint to continue a run)');
  }

  /**
   * Runs steps until `until` (exclusive, default config.steps). Checkpoints every `checkpointEvery`. Stops
   * early (after the step or checkpoint under way) at `deadline` or when `signal` is aborted.
   */
  async train(options: TrainRunOptions = {}): Promise<void> {
    this.checkUsable();
    checkTrainRunOptions(options);
    // Two train() at once would interleave their steps on one set of weights.
    if (this.training) throw argumentError('train() is already running on this Trainer; await it before calling it again');
    this.training = true;
    try {
      await this.trainSteps(options);
    } finally {
      this.training = false;
    }
  }

  private async trainSteps(options: TrainRunOptions): Promise<void> {
    try {
      await this.trainLoop(options);
    } finally {
      this.stepInFlight = false;
    }
  }

  /** Set while a step's native runs are in flight: the weights cannot be read or written then. */
  private stepInFlight = false;

  /** ERR_FACESTYLE_ARGUMENT naming `what` while a training step runs (the session refused it with a message about its own run() calls). */
  private betweenSteps(what: string): void {
    if (this.stepInFlight) throw argumentError(`Trainer.${what} while a training step is running: call it between steps (in a 'step' or 'sample-due' listener) or after train() resolves`);
  }

  private async trainLoop(options: TrainRunOptions): Promise<void> {
    await this.init();
    const c = this.config;
    const until = options.until ?? c.steps;
    const queue = new BatchQueue((s) => makeBatch(this.data, c.batch, c.seed, s, { ...c.augment, crop: c.crop }), 2);
    let t0 = Date.now(), s0 = this.step;
    while (this.step < until) {
      if (options.deadline && Date.now() > options.deadline) break;
      if (options.signal?.aborted) break;
      const batch = await queue.take(this.step);
      const lr = learningRate(c, this.step);
      const t = this.step + 1;
      this.stepInFlight = true;
      const out = await this.live.run({
        photo: batch.input,
        target: batch.target,
        'opt.scalars': new Float32Array([lr, 1 - c.beta1 ** t, 1 - c.beta2 ** t]),
        'ema.decay': new Float32Array([emaDecayAt(c.emaDecay, this.step)]),
      });
      const terms: Record<string, number> = {};
      let loss = 0;
      this.step_.lossNames.forEach((name, i) => {
        terms[name] = out[`out.${name}`].data[0];
        loss += terms[name] * this.step_.lossWeights[i];
      });
      if (this.dStep && this.dSession) {
        const dOut = await this.dSession.run({
          fake: out['out.pred'],
          target: batch.target,
          'dopt.scalars': new Float32Array([(lr * c.dLr) / c.lr, 1 - c.beta1 ** t, 1 - c.beta2 ** t]),
        });
        for (const name of this.dStep.lossNames) terms[name] = dOut[`out.${name}`].data[0];
        this.syncDiscriminator();
      }
      this.stepInFlight = false;
      if (!Number.isFinite(loss))
        throw new FacestyleError(
          'ERR_FACESTYLE_NUMERIC',
          `Loss became ${loss} at step ${this.step} (${JSON.stringify(terms)}); training stopped, ${this.goodCheckpoint()} (a lower --lr or --clip-norm may help)`,
        );
      this.history.push({ step: this.step, loss, terms });
      this.step += 1;
      const every = options.reportEvery ?? 10;
      if (this.step % every === 0 || this.step === until) {
        const now = Date.now();
        this.emit('step', { step: this.step, loss, terms, lr, stepsPerSecond: ((this.step - s0) * 1000) / Math.max(1, now - t0) } satisfies StepReport);
        t0 = now;
        s0 = this.step;
      }
      if (options.checkpointEvery && this.step % options.checkpointEvery === 0) await this.saveCheckpoint();
      if (options.sampleEvery && this.step % options.sampleEvery === 0) this.emit('sample-due', this.step);
    }
  }

  /** All state tensors of the step graph, read from the session. */
  private readState(): Map<string, Tensor> {
    const m = new Map<string, Tensor>();
    for (const v of this.step_.graph.values) if (v.kind === 'param') m.set(v.name, this.live.readParam(v.name));
    // The discriminator step graph owns D's weights and optimizer state.
    if (this.dStep && this.dSession) for (const v of this.dStep.graph.values) if (v.kind === 'param') m.set(v.name, this.dSession.readParam(v.name));
    return m;
  }

  /**
   * Starts from trained generator weights (fine-tuning): sets both the weights and their EMA;
   * the optimizer state stays at zero. Every generator weight must be given with its shape, and every
   * generator tensor given ('g.*') must be one of this generator's: weights of another architecture (more
   * residual blocks, another upsampling) are refused rather than loaded in part.
   */
  async initGenerator(weights: Map<string, Tensor>, source = 'weights'): Promise<void> {
    await this.init();
    this.betweenSteps('initGenerator()');
    const wanted = this.step_.weights.map((name) => ({ name, shape: this.step_.graph.values.find((v) => v.name === name)!.shape }));
    checkInitWeights(weights, wanted, source);
    for (const { name } of wanted) {
      const t = weights.get(name)!;
      this.live.writeParam(name, t);
      this.live.writeParam(`ema.${name}`, t);
    }
  }

  /** The EMA generator weights under their inference names ('g.*'). */
  emaWeights(): Map<string, Tensor> {
    this.betweenSteps('emaWeights()');
    const m = new Map<string, Tensor>();
    for (const w of this.step_.weights) m.set(w, this.live.readParam(`ema.${w}`));
    return m;
  }

  /** Writes checkpoint.safetensors (temp + rename); refuses (NUMERIC) to write non-finite state. */
  async saveCheckpoint(file = path.join(this.outDir, 'checkpoint.safetensors')): Promise<string> {
    this.betweenSteps('saveCheckpoint()');
    const state = this.readState();
    for (const [name, t] of state)
      for (const v of t.data)
        if (!Number.isFinite(v)) throw new FacestyleError('ERR_FACESTYLE_NUMERIC', `Parameter '${name}' holds ${v} at step ${this.step}; checkpoint not written, ${this.goodCheckpoint()}`);
    await writeSafetensors(file, state, {
      format: CHECKPOINT_FORMAT,
      step: String(this.step),
      config: JSON.stringify(this.config),
      history: JSON.stringify(this.history.map((h) => [h.step, h.loss])),
    });
    this.checkpointed = true;
    this.checkpointStep = this.step;
    this.emit('checkpoint', file);
    return file;
  }

  /** What a stop leaves behind, for error messages: this run's last checkpoint, or none yet. */
  private goodCheckpoint(): string {
    return this.checkpointed ? `the last good checkpoint in '${this.outDir}' is kept` : `no checkpoint of this run had been written yet`;
  }

  /** Restores a checkpoint written by saveCheckpoint; it must match this trainer's architecture. */
  async loadCheckpoint(file: string): Promise<void> {
    await this.init();
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.format !== CHECKPOINT_FORMAT) throw formatError(`'${file}' is not a facestyle training checkpoint (format '${metadata.format ?? 'none'}')`);
    // The architecture the weights were trained as: tensors of the same shapes can belong to another one
    // (a residual output, reflect padding, another LeakyReLU slope), which loaded and trained on in silence.
    let saved: Partial<TrainConfig> | null = null;
    try {
      saved = metadata.config ? (JSON.parse(metadata.config) as Partial<TrainConfig>) : null;
    } catch {
      throw formatError(`Checkpoint '${file}' has a config that is not JSON`);
    }
    if (saved) {
      const differs: string[] = [];
      // Compared whatever the order of their keys (a config read back from JSON may list them otherwise).
      const canonical = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(canonical) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v;
      const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
      if (saved.generator && !same(generatorConfig(saved.generator), this.config.generator)) differs.push(`generator ${JSON.stringify(saved.generator)} (this trainer: ${JSON.stringify(this.config.generator)})`);
      if (this.dStep && saved.discriminator && !same(discriminatorConfig(saved.discriminator), this.config.discriminator))
        differs.push(`discriminator ${JSON.stringify(saved.discriminator)} (this trainer: ${JSON.stringify(this.config.discriminator)})`);
      if (differs.length) throw formatError(`Checkpoint '${file}' was made for another architecture: ${differs.join('; ')}`);
    }
    const wanted = [...this.step_.graph.values, ...(this.dStep?.graph.values ?? [])];
    for (const v of wanted) {
      if (v.kind !== 'param') continue;
      const t = tensors.get(v.name);
      if (!t) throw formatError(`Checkpoint '${file}' was made for another architecture: it has no tensor '${v.name}'`);
      if (t.shape.join(',') !== v.shape.join(',')) throw formatError(`Checkpoint '${file}' was made for another architecture: '${v.name}' is [${t.shape}] but this model needs [${v.shape}]`);
    }
    // NaN / Inf anywhere in the state (weights, EMA, optimizer moments) is refused before training resumes
    // on it: it would fail a few steps later, blaming the step and calling this file the last good one.
    for (const v of wanted) if (v.kind === 'param') checkFiniteWeights(tensors.get(v.name)!.data, v.name, `Checkpoint '${file}'`);
    const step = Number(metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) throw formatError(`Checkpoint '${file}' has a bad step ${JSON.stringify(metadata.step)}`);
    for (const v of this.step_.graph.values) if (v.kind === 'param') this.live.writeParam(v.name, tensors.get(v.name)!);
    if (this.dStep && this.dSession) for (const v of this.dStep.graph.values) if (v.kind === 'param') this.dSession.writeParam(v.name, tensors.get(v.name)!);
    this.step = step;
    this.checkpointed = true;
    this.checkpointStep = this.step;
    this.history.length = 0;
    try {
      for (const [step, loss] of JSON.parse(metadata.history ?? '[]') as [number, number][]) this.history.push({ step, loss, terms: {} });
    } catch {
      /* the history is only for plots */
    }
  }

  /**
   * Runs the EMA generator on the validation pairs at full size: L1 and PSNR, and the identity baseline.
   * `weights`: generator weights to evaluate instead of the current EMA (e.g. emaWeights() taken at an
   * earlier step, so an evaluation running behind the training shows that step's weights).
   */
  async evaluate(pairs: PairDataset | null = this.validation, weights?: Map<string, Tensor>): Promise<{ report: EvalReport; outputs: Float32Array[] }> {
    this.checkUsable();
    if (!pairs || !pairs.pairs.length) throw argumentError('No validation pairs to evaluate');
    // The weights are read now, before any await lets training move on (evaluate() from a 'step' listener
    // reads that step's weights); a Trainer without a session yet evaluates its initial weights.
    let w = weights ?? (this.session ? this.emaWeights() : undefined);
    await this.init();
    w ??= this.emaWeights();
    // One evaluation at a time on the evaluation session (two at once wrote its weights under each other's runs).
    const run = this.evaluating.then(async () => {
      if (this.evalSession && this.evalSize !== pairs.size) {
        this.evalSession.dispose();
        this.evalSession = null;
      }
      if (!this.evalSession) {
        this.evalSession = await this.compileOwn(generatorGraph(this.config.generator, { height: pairs.size, width: pairs.size }));
        this.evalSize = pairs.size;
      }
      for (const [name, t] of w) this.evalSession.writeParam(name, t);
      return evaluateGenerator(this.evalSession, pairs);
    });
    this.evaluating = run.catch(() => undefined);
    return run;
  }

  private evaluating: Promise<unknown> = Promise.resolve();
  private evalSize = 0;

  dispose(): void {
    this.disposed = true;
    this.session?.dispose();
    this.dSession?.dispose();
    this.evalSession?.dispose();
    this.session = this.dSession = this.evalSession = null;
  }
}

const INIT_HINT = ' (train with the architecture they were trained with: --channels, --width, --res-blocks, --block, --upsample, --residual; the shipped comic-light is --res-blocks 4 --upsample deconv)';

/** Options of Trainer.train(). */
export interface TrainRunOptions {
  /** Runs steps until this step (exclusive; default config.steps). */
  until?: number;
  /** Saves a checkpoint every this many steps (0 or none: never). */
  checkpointEvery?: number;
  /** Emits 'sample-due' every this many steps (0 or none: never). */
  sampleEvery?: number;
  /** Emits a report every this many steps (default 10). */
  reportEvery?: number;
  /** A time (ms since the epoch, as Date.now()) after which no new step starts. */
  deadline?: number;
  signal?: AbortSignal;
}

const TRAIN_RUN_OPTION_KEYS = is.optionKeys<TrainRunOptions>()(['until', 'checkpointEvery', 'sampleEvery', 'reportEvery', 'deadline', 'signal']);

/**
 * ERR_FACESTYLE_ARGUMENT for a value train() cannot use (a fractional `until` ran a step past it; a
 * `reportEvery` of 0 divided by zero). runTraining checks its own options of the same names with it.
 */
export function checkRunCadence(o: Pick<TrainRunOptions, 'checkpointEvery' | 'sampleEvery' | 'reportEvery' | 'deadline' | 'signal'>): void {
  if (o.reportEvery !== undefined && !(Number.isInteger(o.reportEvery) && o.reportEvery >= 1)) throw argumentError(`Expected reportEvery to be a whole number of steps >= 1 but received ${is.describe(o.reportEvery)}`);
  for (const k of ['checkpointEvery', 'sampleEvery'] as const)
    if (o[k] !== undefined && !(Number.isInteger(o[k]) && o[k]! >= 0)) throw argumentError(`Expected ${k} to be a whole number of steps >= 0 (0: never) but received ${is.describe(o[k])}`);
  if (o.deadline !== undefined && !Number.isFinite(o.deadline)) throw argumentError(`Expected a finite deadline (ms since the epoch) but received ${is.describe(o.deadline)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw is.invalid('signal', 'an AbortSignal', o.signal);
}

function checkTrainRunOptions(options: TrainRunOptions): void {
  is.knownOptions('Trainer.train', options, TRAIN_RUN_OPTION_KEYS);
  if (options.until !== undefined && !(Number.isInteger(options.until) && options.until >= 0)) throw argumentError(`Expected until to be a whole step number >= 0 but received ${is.describe(options.until)}`);
  checkRunCadence(options);
}

/** Generator weights to start from, checked against the generator's own (see checkWeightsFit). */
export function checkInitWeights(weights: Map<string, Tensor>, wanted: readonly { name: string; shape: readonly number[] }[], source: string): void {
  checkWeightsFit(weights, wanted, source, { model: 'this generator', hint: INIT_HINT });
}

/** ERR_FACESTYLE_ARGUMENT unless `d` looks like a PairDataset (from loadPairs). */
function checkPairDataset(d: unknown, name: string): void {
  const p = d as PairDataset | null;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.pairs) || !Number.isInteger(p.size)) throw is.invalid(name, 'a PairDataset (from loadPairs())', d);
}

/** L1/PSNR of a compiled generator ('image' -> 'stylized') on pairs, and of the identity. */
export async function evaluateGenerator(session: Session, pairs: PairDataset): Promise<{ report: EvalReport; outputs: Float32Array[] }> {
  if (typeof (session as Session | null)?.run !== 'function') throw argumentError('Expected session to be a compiled generator Session (input image, output stylized)');
  checkPairDataset(pairs, 'pairs');
  let l1 = 0, p = 0, il1 = 0, ip = 0;
  const outputs: Float32Array[] = [];
  for (const pair of pairs.pairs) {
    const out = (await session.run({ image: new Tensor([1, 3, pairs.size, pairs.size], pair.input) })).stylized.data;
    outputs.push(out);
    l1 += meanAbs(out, pair.target);
    p += psnr(out, pair.target);
    il1 += meanAbs(pair.input, pair.target);
    ip += psnr(pair.input, pair.target);
  }
  const n = pairs.pairs.length;
  return { report: { l1: l1 / n, psnr: p / n, identityL1: il1 / n, identityPsnr: ip / n, count: n }, outputs };
}

/**
 * Writes the run's config next to its checkpoints, whole or not at all (a run killed while writing it
 * leaves the previous config.json, which a later --resume checks against).
 */
export async function writeRunConfig(dir: string, config: TrainConfig, extra: Record<string, unknown> = {}): Promise<void> {
  const text = JSON.stringify({ ...extra, config }, null, 2);
  await writeFileWhole(path.join(dir, 'config.json'), async () => new TextEncoder().encode(text), { createFolder: true });
}
