// `facestyle train --pairs <dir> --out <run dir>`: trains the light generator on paired images,
// with a progress bar (loss, steps/s), checkpoints, sample grids and a loss curve in the run dir.
import type { Command } from 'commander';
import { argumentError } from '../errors.js';
import { TrainingStoppedError, runTraining } from '../train/run.js';
import { defaultTrainConfig, type StepReport } from '../train/trainer.js';
import { decimal, withFlagNames } from './args.js';
import { STOP_SIGNALS, type StopSignal, whileStopSignals } from './signals.js';

// Values as typed in decimal (cli/args.ts decimal: not '0x10', not ''), whole numbers up to 2^53.
const int = (name: string) => (v: string) => {
  const n = decimal(v);
  if (!Number.isSafeInteger(n) || n < 0) throw argumentError(`Expected non-negative integer for --${name} but received '${v}'`);
  return n;
};
const num = (name: string) => (v: string) => {
  const n = decimal(v);
  if (!Number.isFinite(n)) throw argumentError(`Expected a number for --${name} but received '${v}'`);
  return n;
};
const nonNegative = (name: string, zero: string) => (v: string) => {
  const n = decimal(v);
  if (!(Number.isFinite(n) && n >= 0)) throw argumentError(`Expected a number >= 0 for --${name} (0: ${zero}) but received ${v}`);
  return n;
};

// Minutes, at most 1e9 (1900 years): a larger value would make the deadline (ms since the epoch) infinite.
const timeLimit = (v: string) => {
  const n = nonNegative('time-limit', 'no limit')(v);
  if (n > 1e9) throw argumentError(`Expected at most 1e9 minutes for --time-limit (0: no limit) but received ${v}`);
  return n;
};

function channelList(v: string): [number, number, number, number] {
  const c = String(v).split(',').map(decimal);
  if (c.length !== 4 || c.some((n) => !Number.isInteger(n) || n < 1)) throw argumentError(`Expected 4 comma-separated channel counts for --channels but received ${v}`);
  return c as [number, number, number, number];
}

/** One line: [#####.....] step/total loss x steps/s ETA. */
export function progressLine(r: StepReport, total: number, width = 24): string {
  const done = Math.min(1, r.step / total);
  const bar = '#'.repeat(Math.round(done * width)).padEnd(width, '.');
  const eta = r.stepsPerSecond > 0 ? (total - r.step) / r.stepsPerSecond : 0;
  const terms = Object.entries(r.terms).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ');
  return `[${bar}] ${r.step}/${total} loss ${r.loss.toFixed(4)} (${terms}) ${r.stepsPerSecond.toFixed(2)} steps/s ETA ${Math.round(eta)}s`;
}

/** Training options by their API names (what the checks name) -> the flags that set them. */
const TRAIN_FLAGS = {
  size: '--size', crop: '--crop', batch: '--batch', steps: '--steps', lr: '--lr', lrMin: '--lr-min', warmupSteps: '--warmup',
  emaDecay: '--ema', clipNorm: '--clip-norm', seed: '--seed', threads: '--threads', device: '--device', flip: '--flip',
  minScale: '--min-scale', rotate: '--rotate', jitter: '--jitter', saturation: '--saturation', cutmix: '--cutmix',
  l1: '--l1', mse: '--mse', color: '--color', edge: '--edge', adv: '--adv', fm: '--fm', tv: '--tv', style: '--style',
  scales: '--d-scales', ganLoss: '--gan-loss', channels: '--channels', width: '--width', resBlocks: '--res-blocks',
  upsample: '--upsample', pad: '--pad', norm: '--norm', block: '--block', expand: '--expand',
  checkpointEvery: '--checkpoint-every', sampleEvery: '--sample-every', holdout: '--holdout', initFrom: '--init-from',
} as const;

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('Train the light generator on (photo, stylized) pairs: two folders with the same file names, or side-by-side images')
    .requiredOption('--pairs <dir>', 'pairs folder (photo/ + toon/, input/ + target/, or side-by-side images)')
    .requiredOption('--out <dir>', 'run folder: checkpoint, samples, loss curve, generator and model card')
    .option('--size <n>', 'image size the pairs are resized to', int('size'), 256)
    // No commander default: runTraining's own (128, or the size when that is smaller) applies.
    .option('--crop <n>', `training crop, divisible by 8 (default: ${defaultTrainConfig.crop}, or the size when smaller)`, int('crop'))
    .option('--batch <n>', 'batch size', int('batch'), 4)
    .option('--steps <n>', 'training steps', int('steps'), 2000)
    .option('--lr <x>', 'peak learning rate', num('lr'), 2e-3)
    .option('--clip-norm <x>', 'clip gradients to this global norm (0: off)', num('clip-norm'), 1)
    // No commander default: trainConfig's (1e-4, or --lr when that is lower) applies.
    .option('--lr-min <x>', 'learning rate at the end of the cosine schedule (default: 1e-4, or --lr when lower)', num('lr-min'))
    .option('--warmup <n>', 'linear warm-up steps', int('warmup'), 50)
    .option('--ema <x>', 'EMA decay of the exported weights', num('ema'), 0.995)
    .option('--min-scale <x>', 'random resized crop: smallest side as a fraction of the image (1: no rescaling)', num('min-scale'), 0.6)
    .option('--flip <x>', 'horizontal flip probability', num('flip'), 0.5)
    .option('--rotate <deg>', 'largest random rotation in degrees (same on both sides)', num('rotate'), 0)
    .option('--jitter <x>', 'brightness/contrast jitter amplitude (same on both sides)', num('jitter'), 0)
    .option('--saturation <x>', 'saturation jitter amplitude (same on both sides)', num('saturation'), 0)
    .option('--cutmix <p>', 'CutMix probability: a rectangle from another pair pasted into both sides', num('cutmix'), 0)
    .option('--channels <list>', 'generator channels at 1, 1/2, 1/4, 1/8 resolution', '16,32,64,96')
    .option('--block <kind>', 'generator blocks at 1/8: residual or inverted', 'residual')
    .option('--expand <n>', 'expansion of inverted residual blocks', int('expand'), 4)
    .option('--residual', 'output = input + learned correction (no tanh)')
    .option('--init-from <file>', "start from these generator weights (.safetensors of the same architecture, or a shipped model's name)")
    .option('--width <x>', 'generator width multiplier', num('width'), 1)
    .option('--res-blocks <n>', 'generator residual blocks at 1/8 resolution', int('res-blocks'), 2)
    .option('--upsample <mode>', 'generator upsampling: bilinear or deconv', 'bilinear')
    .option('--pad <mode>', 'generator conv padding: zeros or reflect', 'zeros')
    .option('--norm <kind>', 'generator normalisation: none or instance', 'none')
    .option('--l1 <x>', 'L1 loss weight', num('l1'), 1)
    .option('--mse <x>', 'mean squared error weight', num('mse'), 0)
    .option('--color <x>', 'colour (YUV) loss weight', num('color'), 0.5)
    .option('--edge <x>', 'Laplacian edge loss weight', num('edge'), 0.1)
    .option('--adv <x>', 'LSGAN adversarial loss weight (PatchGAN discriminator; 0: none)', num('adv'), 0)
    .option('--fm <x>', 'discriminator feature-matching loss weight', num('fm'), 0)
    .option('--gan-loss <kind>', 'adversarial loss: lsgan, hinge or bce', 'lsgan')
    .option('--tv <x>', 'total-variation loss weight', num('tv'), 0)
    .option('--style <x>', 'style loss weight (Gram matrices of discriminator features)', num('style'), 0)
    .option('--d-scales <n>', 'discriminator scales (multi-scale PatchGAN)', int('d-scales'), 1)
    .option('--spectral-norm', 'spectral normalisation of the discriminator weights')
    .option('--holdout <names>', 'comma-separated file names kept out for validation', '')
    .option('--device <d>', 'cpu or cuda', 'cpu')
    .option('--threads <n>', 'CPU threads (0: all)', int('threads'), 0)
    .option('--seed <n>', 'random seed', int('seed'), 1)
    .option('--checkpoint-every <n>', 'steps between checkpoints', int('checkpoint-every'), 200)
    .option('--sample-every <n>', 'steps between sample grids (of the --holdout pairs, else of the first training pairs)', int('sample-every'), 500)
    .option('--time-limit <minutes>', 'stop cleanly after this many minutes (0: no limit)', timeLimit, 0)
    .option('--resume', 'continue from <out>/checkpoint.safetensors')
    .option('--overwrite', 'start over in an <out> folder that already holds a run (refused otherwise)')
    .action(async (o) => {
      const tty = process.stderr.isTTY;
      // Ctrl-C, kill (SIGTERM) or a closed terminal (SIGHUP): stop after the step (or checkpoint write) under
      // way, say where to resume from, exit 128 + the signal's number. A second signal of the kind kills at once.
      const ac = new AbortController();
      let caught: StopSignal | null = null;
      const onSignal = (name: StopSignal) => {
        caught ??= name;
        ac.abort();
      };
      const train = () => withFlagNames(TRAIN_FLAGS, () => runTraining({
        pairs: o.pairs,
        out: o.out,
        size: o.size,
        holdout: o.holdout ? String(o.holdout).split(',').filter(Boolean) : [],
        resume: !!o.resume,
        overwrite: !!o.overwrite,
        initFrom: o.initFrom,
        checkpointEvery: o.checkpointEvery,
        sampleEvery: o.sampleEvery,
        deadline: o.timeLimit > 0 ? Date.now() + o.timeLimit * 60_000 : undefined,
        config: {
          crop: o.crop, batch: o.batch, steps: o.steps, lr: o.lr, lrMin: o.lrMin, warmupSteps: o.warmup, emaDecay: o.ema, clipNorm: o.clipNorm, seed: o.seed, threads: o.threads, device: o.device,
          augment: { flip: o.flip, minScale: o.minScale, rotate: o.rotate, jitter: o.jitter, saturation: o.saturation, cutmix: o.cutmix },
          losses: { l1: o.l1, mse: o.mse, color: o.color, edge: o.edge, adv: o.adv, fm: o.fm, tv: o.tv, style: o.style },
          discriminator: { scales: o.dScales, spectralNorm: !!o.spectralNorm },
          ganLoss: o.ganLoss,
          generator: { arch: 'light-unet', channels: channelList(o.channels), width: o.width, resBlocks: o.resBlocks, alpha: 0.2, upsample: o.upsample, pad: o.pad, norm: o.norm, block: o.block, expand: o.expand, ...(o.residual ? { residual: true } : {}) },
        },
        onStep: (r) => process.stderr.write(tty ? `\r${progressLine(r, o.steps)}` : `${progressLine(r, o.steps)}\n`),
        onLog: (line) => process.stderr.write(`${tty ? '\n' : ''}${line}\n`),
        signal: ac.signal,
      }));
      let card;
      try {
        ({ card } = await whileStopSignals(onSignal, train));
      } catch (e) {
        if (!(e instanceof TrainingStoppedError) || !caught) throw e;
        process.stderr.write(`${tty ? '\n' : ''}facestyle: interrupted (${caught}): ${e.message}\n`);
        process.exitCode = STOP_SIGNALS[caught];
        return;
      }
      process.stdout.write(`${JSON.stringify({ steps: card.training.steps, validation: card.validation ?? null }, null, 2)}\n`);
    });
}
