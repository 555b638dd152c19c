// Training: the Trainer, whole runs, data, losses, checkpoints.
export { Trainer, buildDiscriminatorStepGraph, buildStepGraph, checkInitWeights, defaultTrainConfig, emaDecayAt, evaluateGenerator, learningRate, trainConfig } from './trainer.js';
export type { EvalReport, LossWeights, StepGraph, StepReport, TrainConfig, TrainOptions, TrainRunOptions } from './trainer.js';
export { TrainingStoppedError, runTraining } from './run.js';
export type { ModelCard, RunOptions } from './run.js';
export { BatchQueue, loadPairs, makeBatch } from './data.js';
export type { AugmentOptions, Batch, LoadPairsOptions, Pair, PairDataset } from './data.js';
export { colorLoss, edgeLoss, gramMatrix, l1Loss, laplacian, lsganLoss, meanAbs, psnr, styleLoss } from './losses.js';
export { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from './safetensors.js';
export { writeLossCurve, writeSampleGrid } from './report.js';
