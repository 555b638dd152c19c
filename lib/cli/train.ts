import type { Command } from 'commander';

/** `facestyle train`: not implemented yet (lands with its issue). */
export function registerTrainCommand(program: Command): void {
  void program;
}
