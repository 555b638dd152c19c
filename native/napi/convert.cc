#include "napi/convert.h"

#include <cmath>
#include <cstring>

namespace facestyle::napi {

Napi::Error makeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Error makeError(Napi::Env env, ErrorCode code, const std::string& message) {
  return makeError(env, errorCodeName(code), message);
}

Napi::ArrayBuffer copyArrayBuffer(Napi::Env env, const void* data, size_t bytes) {
  Napi::ArrayBuffer buf;
  try {
    buf = Napi::ArrayBuffer::New(env, bytes);
  } catch (const Napi::Error&) {
    throw makeError(env, ErrorCode::OutOfMemory, "Out of memory: could not allocate a result of " + std::to_string(bytes) + " bytes");
  }
  std::memcpy(buf.Data(), data, bytes);
  return buf;
}

namespace {

[[noreturn]] void bad(const std::string& message) { throw Error(ErrorCode::Argument, message); }

Napi::Array getArray(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) bad("Expected array for " + where + "." + key);
  return v.As<Napi::Array>();
}

int64_t toIndex(const Napi::Value& v, const std::string& where) {
  if (!v.IsNumber()) bad("Expected integer for " + where);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) bad("Expected integer for " + where);
  return static_cast<int64_t>(d);
}

std::vector<int> indexList(const Napi::Array& a, const std::string& where) {
  std::vector<int> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    int64_t v = toIndex(a.Get(i), where);
    if (v < -1 || v > 0x7fffffff) bad("Index out of range in " + where);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

Attr attrFromJs(const Napi::Value& v, const std::string& where) {
  Attr attr;
  if (v.IsString()) {
    attr.isText = true;
    attr.text = v.As<Napi::String>().Utf8Value();
  } else if (v.IsNumber()) {
    attr.numbers.push_back(v.As<Napi::Number>().DoubleValue());
  } else if (v.IsBoolean()) {
    attr.numbers.push_back(v.As<Napi::Boolean>().Value() ? 1.0 : 0.0);
  } else if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value e = a.Get(i);
      if (!e.IsNumber()) bad("Expected numbers in attribute " + where);
      attr.numbers.push_back(e.As<Napi::Number>().DoubleValue());
    }
  } else {
    bad("Unsupported attribute value for " + where);
  }
  return attr;
}

}  // namespace

GraphDesc graphFromJs(const Napi::Object& g) {
  GraphDesc graph;
  Napi::Array values = getArray(g, "values", "graph");
  graph.values.resize(values.Length());
  for (uint32_t i = 0; i < values.Length(); ++i) {
    std::string where = "graph.values[" + std::to_string(i) + "]";
    if (!values.Get(i).IsObject()) bad("Expected object for " + where);
    Napi::Object v = values.Get(i).As<Napi::Object>();
    ValueDesc& val = graph.values[i];
    val.name = v.Get("name").IsString() ? v.Get("name").As<Napi::String>().Utf8Value() : ("value" + std::to_string(i));
    std::string kind = v.Get("kind").IsString() ? v.Get("kind").As<Napi::String>().Utf8Value() : "";
    if (kind == "input") val.kind = ValueKind::Input;
    else if (kind == "param") val.kind = ValueKind::Param;
    else if (kind == "const") val.kind = ValueKind::Const;
    else if (kind == "intermediate") val.kind = ValueKind::Intermediate;
    else bad("Expected kind input|param|const|intermediate for " + where + " but received '" + kind + "'");
    Napi::Array shape = getArray(v, "shape", where);
    for (uint32_t d = 0; d < shape.Length(); ++d) val.shape.push_back(toIndex(shape.Get(d), where + ".shape"));
    if (val.kind == ValueKind::Param || val.kind == ValueKind::Const) {
      Napi::Value data = v.Get("data");
      if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        bad("Expected Float32Array data for " + where + " ('" + val.name + "')");
      Napi::Float32Array f = data.As<Napi::Float32Array>();
      val.data.assign(f.Data(), f.Data() + f.ElementLength());
    }
  }
  Napi::Array nodes = getArray(g, "nodes", "graph");
  graph.nodes.resize(nodes.Length());
  for (uint32_t i = 0; i < nodes.Length(); ++i) {
    std::string where = "graph.nodes[" + std::to_string(i) + "]";
    if (!nodes.Get(i).IsObject()) bad("Expected object for " + where);
    Napi::Object n = nodes.Get(i).As<Napi::Object>();
    NodeDesc& node = graph.nodes[i];
    node.name = n.Get("name").IsString() ? n.Get("name").As<Napi::String>().Utf8Value() : ("node" + std::to_string(i));
    if (!n.Get("op").IsString()) bad("Expected string op for " + where);
    node.op = opKindFromName(n.Get("op").As<Napi::String>().Utf8Value());
    node.inputs = indexList(getArray(n, "inputs", where), where + ".inputs");
    node.outputs = indexList(getArray(n, "outputs", where), where + ".outputs");
    Napi::Value attrs = n.Get("attrs");
    if (attrs.IsObject()) {
      Napi::Object a = attrs.As<Napi::Object>();
      Napi::Array keys = a.GetPropertyNames();
      for (uint32_t k = 0; k < keys.Length(); ++k) {
        std::string key = keys.Get(k).As<Napi::String>().Utf8Value();
        Napi::Value value = a.Get(key);
        if (value.IsUndefined() || value.IsNull()) continue;
        node.attrs.values[key] = attrFromJs(value, where + ".attrs." + key);
      }
    }
  }
  graph.inputs = indexList(getArray(g, "inputs", "graph"), "graph.inputs");
  graph.outputs = indexList(getArray(g, "outputs", "graph"), "graph.outputs");
  Napi::Value updates = g.Get("updates");
  if (updates.IsArray()) {
    Napi::Array u = updates.As<Napi::Array>();
    for (uint32_t i = 0; i < u.Length(); ++i) {
      if (!u.Get(i).IsArray()) bad("Expected [source, target] pairs in graph.updates");
      std::vector<int> pair = indexList(u.Get(i).As<Napi::Array>(), "graph.updates");
      if (pair.size() != 2) bad("Expected [source, target] pairs in graph.updates");
      graph.updates.push_back({pair[0], pair[1]});
    }
  }
  return graph;
}

}  // namespace facestyle::napi
