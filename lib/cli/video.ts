import type { Command } from 'commander';

/** `facestyle video`: not implemented yet (lands with its issue). */
export function registerVideoCommand(program: Command): void {
  void program;
}
