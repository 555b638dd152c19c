#!/usr/bin/env node
// The `facestyle` command. Each subcommand lives in its own file under lib/cli/ and registers here.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { asOutOfMemory, isFacestyleError } from '../errors.js';
import { flagNamesIn } from './args.js';
import { registerCapabilitiesCommand } from './capabilities.js';
import { registerCheckCommand } from './check.js';
import { registerExportCommand } from './export.js';
import { registerInfoCommand } from './info.js';
import { registerStylizeCommand } from './stylize.js';
import { registerTrainCommand } from './train.js';
import { registerVideoCommand } from './video.js';

/** This package's version, from its own package.json (npm_package_version is the calling project's). */
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

// Output read by a program that stops reading early (`facestyle capabilities --json | head -c 10`, `| true`):
// the write fails with EPIPE, which without a listener is an uncaught 'error' event (a stack trace and
// exit 1, the code of a parity failure). The reader has what it wanted: end quietly.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });

const program = new Command();
program
  .name('facestyle')
  .description('Face stylization: detect, align, stylize and paste back faces; train, export and check models.')
  .version(version)
  // Usage errors (an unknown option or command, a missing argument) throw instead of exiting 1, so they
  // exit 2 like every other error: 1 stays "check found a parity failure / an image of a folder failed".
  // The subcommands registered below inherit this.
  .exitOverride();

registerStylizeCommand(program);
registerVideoCommand(program);
registerTrainCommand(program);
registerExportCommand(program);
registerInfoCommand(program);
registerCheckCommand(program);
registerCapabilitiesCommand(program);

// Defaults read the same in every command's --help, '(default: 1)': commander quotes those of the options
// that keep their value as typed text ('(default: "1")'), beside commands that write them in the text.
for (const command of program.commands)
  for (const option of command.options) {
    if (typeof option.defaultValue === 'string' && option.defaultValueDescription === undefined) option.defaultValueDescription = option.defaultValue === '' ? 'none' : option.defaultValue;
    // commander marks nothing: an option the command cannot run without says so in --help.
    if (option.mandatory && !option.description.endsWith('(required)')) option.description += ' (required)';
  }

/** API option names -> flags, for errors from commands that do not name their flags themselves. */
const COMMON_FLAGS = { opset: '--opset', threads: '--threads', atol: '--atol', rtol: '--rtol', size: '--size', device: '--device' } as const;

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) {
    // commander has printed its message (or the help / version, which exit 0).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
    return;
  }
  // (Any command: the hint names no flag of one.)
  e = asOutOfMemory(e, 'in this command', 'smaller inputs, sizes or batches need less');
  // Options the export / check / info commands pass to the library under their API names.
  if (isFacestyleError(e) && e.code === 'ERR_FACESTYLE_ARGUMENT') e.message = flagNamesIn(e.message, COMMON_FLAGS);
  const code = isFacestyleError(e) ? ` [${e.code}]` : '';
  process.stderr.write(`facestyle: ${(e as Error).message ?? e}${code}\n`);
  process.exitCode = process.exitCode || 2;
});
