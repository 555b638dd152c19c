// Stopping a command cleanly on Ctrl-C (SIGINT), kill (SIGTERM) or a closed terminal (SIGHUP).
import { removePendingTempFiles } from '../files.js';

/** The signals a long command stops on, with the exit code of each (128 + the signal's number). */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

/** Runs `body` with `onSignal` called (once per signal kind) on a stop signal; the handlers are removed after. */
export async function whileStopSignals<T>(onSignal: (name: StopSignal) => void, body: () => Promise<T>): Promise<T> {
  const handlers = (Object.keys(STOP_SIGNALS) as StopSignal[]).map((name) => {
    const handler = () => onSignal(name);
    process.once(name, handler);
    return [name, handler] as const;
  });
  try {
    return await body();
  } finally {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
}

/**
 * Runs `body`, a command that writes files through writeFileWhole: on Ctrl-C, kill or a closed terminal it
 * says "interrupted (<signal>); <unwritten>", removes the hidden temp files of writes in progress (finished
 * files stay; none is left half-written under its name), runs `cleanup`, and ends by the signal (exit 128 +
 * its number in a shell) at once, without waiting for an encode or a write in flight.
 */
export function whileWritingFiles<T>(unwritten: string, body: () => Promise<T>, cleanup?: () => void): Promise<T> {
  const onSignal = (name: StopSignal) => {
    process.stderr.write(`\nfacestyle: interrupted (${name}); ${unwritten}\n`);
    removePendingTempFiles();
    cleanup?.();
    exitBySignal(name);
  };
  return whileStopSignals(onSignal, body);
}

/**
 * Ends the process at once by the signal itself, as if it had no handler: the shell sees 128 + the
 * signal's number (STOP_SIGNALS), a parent process sees the signal. Unlike process.exit(), this does
 * not wait for native work in flight (an image encode of several seconds keeps process.exit() waiting
 * until it is done). Call it after cleaning up.
 */
export function exitBySignal(name: StopSignal): void {
  process.removeAllListeners(name);
  process.kill(process.pid, name);
  // Should the signal not end the process (it always does on Linux and macOS), exit with its code.
  setTimeout(() => process.exit(STOP_SIGNALS[name]), 2000);
}
