#include <cmath>
#include <unordered_map>

#include "facestyle/kernel.h"
#include "facestyle/ops.h"

namespace facestyle {

const char* opKindName(OpKind kind) {
  switch (kind) {
#define FACESTYLE_OP_NAME(name) \
  case OpKind::name:            \
    return #name;
    FACESTYLE_OP_LIST(FACESTYLE_OP_NAME)
#undef FACESTYLE_OP_NAME
    case OpKind::Count: break;
  }
  return "?";
}

OpKind opKindFromName(const std::string& name) {
  static const std::unordered_map<std::string, OpKind> table = [] {
    std::unordered_map<std::string, OpKind> t;
#define FACESTYLE_OP_ENTRY(n) t[#n] = OpKind::n;
    FACESTYLE_OP_LIST(FACESTYLE_OP_ENTRY)
#undef FACESTYLE_OP_ENTRY
    return t;
  }();
  auto it = table.find(name);
  if (it == table.end()) throw Error(ErrorCode::Unsupported, "Unknown op '" + name + "'");
  return it->second;
}

static const Attr* findAttr(const Attrs& a, const std::string& name) {
  auto it = a.values.find(name);
  return it == a.values.end() ? nullptr : &it->second;
}

static int64_t toInt(double v, const std::string& name) {
  if (!std::isfinite(v) || v != std::floor(v))
    throw Error(ErrorCode::Argument, "Expected integer for attribute '" + name + "' but received " + std::to_string(v));
  // ONNX writes "to the end" as INT64_MAX/MIN (e.g. Slice ends); JS numbers carry them rounded, so
  // magnitudes beyond 2^53 saturate at +-2^62: far past any real dimension, and safe to add to.
  constexpr double kLimit = 9007199254740992.0;
  constexpr int64_t kSaturated = int64_t(1) << 62;
  if (v > kLimit) return kSaturated;
  if (v < -kLimit) return -kSaturated;
  return static_cast<int64_t>(v);
}

int64_t Attrs::getInt(const std::string& name, int64_t fallback) const {
  const Attr* a = findAttr(*this, name);
  if (!a) return fallback;
  if (a->isText || a->numbers.size() != 1)
    throw Error(ErrorCode::Argument, "Expected one integer for attribute '" + name + "'");
  return toInt(a->numbers[0], name);
}

double Attrs::getFloat(const std::string& name, double fallback) const {
  const Attr* a = findAttr(*this, name);
  if (!a) return fallback;
  if (a->isText || a->numbers.size() != 1)
    throw Error(ErrorCode::Argument, "Expected one number for attribute '" + name + "'");
  return a->numbers[0];
}

std::vector<int64_t> Attrs::getInts(const std::string& name, const std::vector<int64_t>& fallback) const {
  const Attr* a = findAttr(*this, name);
  if (!a) return fallback;
  if (a->isText) throw Error(ErrorCode::Argument, "Expected integers for attribute '" + name + "'");
  std::vector<int64_t> out;
  out.reserve(a->numbers.size());
  for (double v : a->numbers) out.push_back(toInt(v, name));
  return out;
}

std::vector<double> Attrs::getFloats(const std::string& name, const std::vector<double>& fallback) const {
  const Attr* a = findAttr(*this, name);
  if (!a) return fallback;
  if (a->isText) throw Error(ErrorCode::Argument, "Expected numbers for attribute '" + name + "'");
  return a->numbers;
}

std::string Attrs::getString(const std::string& name, const std::string& fallback) const {
  const Attr* a = findAttr(*this, name);
  if (!a) return fallback;
  if (!a->isText) throw Error(ErrorCode::Argument, "Expected a string for attribute '" + name + "'");
  return a->text;
}

void KernelContext::fail(const std::string& message) const {
  throw Error(ErrorCode::Shape, std::string(opKindName(node.op)) + " node '" + node.name + "': " + message);
}

}  // namespace facestyle
