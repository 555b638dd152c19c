import type { Command } from 'commander';

/** `facestyle stylize`: not implemented yet (lands with its issue). */
export function registerStylizeCommand(program: Command): void {
  void program;
}
