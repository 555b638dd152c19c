#!/usr/bin/env node
// The `facestyle` command. Each subcommand lives in its own file under lib/cli/ and registers here.
import { Command } from 'commander';
import { isFacestyleError } from '../errors.js';
import { registerCapabilitiesCommand } from './capabilities.js';

const program = new Command();
program
  .name('facestyle')
  .description('Face stylization: detect, align, stylize and paste back faces; train, export and check models.')
  .version(process.env.npm_package_version ?? '0.1.0');

registerCapabilitiesCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  const code = isFacestyleError(e) ? ` [${e.code}]` : '';
  process.stderr.write(`facestyle: ${(e as Error).message ?? e}${code}\n`);
  process.exitCode = 2;
});
