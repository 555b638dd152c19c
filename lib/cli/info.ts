import type { Command } from 'commander';

/** `facestyle info`: not implemented yet (lands with its issue). */
export function registerInfoCommand(program: Command): void {
  void program;
}
