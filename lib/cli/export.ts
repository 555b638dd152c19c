import type { Command } from 'commander';

/** `facestyle export`: not implemented yet (lands with its issue). */
export function registerExportCommand(program: Command): void {
  void program;
}
