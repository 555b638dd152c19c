import type { Command } from 'commander';

/** `facestyle check`: not implemented yet (lands with its issue). */
export function registerCheckCommand(program: Command): void {
  void program;
}
