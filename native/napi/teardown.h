// Temp outputs to clean up if their environment goes away mid-run. A worker_thread terminated while
// stylizeVideo writes (worker.terminate()) runs no more JavaScript, so the run's own cleanup (abort(),
// removing the hidden .partial- file or folder) never happens, and the encoder ffmpeg, its input closed,
// finishes the temp file and leaves it (lib/video/ffmpeg.ts). The JS side registers each temp output (with
// the child process writing it) for as long as it exists; the environment's cleanup hook, which N-API runs
// at the teardown of that environment, kills the process, reaps it (the worker's event loop that would
// have is gone: it stayed a zombie until the process ended) and removes the path. A process with no
// path (the decoder ffmpeg) is registered the same way, with an empty path: killed and reaped only.
#pragma once
#include <napi.h>

namespace facestyle::napi {

// registerTeardown(path: string ('' : none), isFolder: boolean, pid: number (0: none)) -> id;
// unregisterTeardown(id): the run cleaned up itself.
void registerTeardownOps(Napi::Env env, Napi::Object exports);

}  // namespace facestyle::napi
