// The exact-resume check shared by the trainer tests: a run interrupted at step k (checkpoint written,
// trainer disposed) and continued by a fresh Trainer from that checkpoint.
import path from 'node:path';
import type { PairDataset } from '../../lib/train/data.js';
import { type TrainConfig, Trainer } from '../../lib/train/trainer.js';

/**
 * Trains `cfg` on `data` in `dir` up to step `k`, saves a checkpoint, loads it in a new Trainer and
 * trains to the end. Returns the history of both halves joined (what an uninterrupted run should have
 * recorded) and the step the second trainer resumed at.
 */
export async function interruptedAndResumed(cfg: TrainConfig, data: PairDataset, dir: string, k: number) {
  const first = new Trainer(cfg, data, dir);
  await first.train({ until: k });
  await first.saveCheckpoint();
  first.dispose();
  const second = new Trainer(cfg, data, dir);
  await second.loadCheckpoint(path.join(dir, 'checkpoint.safetensors'));
  const resumedAt = second.step;
  await second.train();
  const history = [...first.history, ...second.history.slice(k)];
  second.dispose();
  return { history, resumedAt };
}
