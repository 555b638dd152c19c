// JS <-> plain C++ structs. Everything a worker needs is converted on the main thread before it is
// queued, so Execute() touches native memory only.
#pragma once
#include <napi.h>

#include "facestyle/plan.h"
#include "facestyle/status.h"

namespace facestyle::napi {

// A JS Error with `code` set to ERR_FACESTYLE_<CODE>.
Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message);
Napi::Error makeError(Napi::Env env, const char* code, const std::string& message);

// Converts the object built by lib/runtime/session.ts (see toNativeGraph there). Throws Error.
GraphDesc graphFromJs(const Napi::Object& graph);

}  // namespace facestyle::napi
