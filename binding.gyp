{
  "variables": { "openmp%": "true" },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fPIC"],
    "include_dirs": ["native/include", "native", "<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NDEBUG", "FACESTYLE_VERSION=\"0.1.0\""],
    "conditions": [["openmp=='true'", { "cflags_cc": ["-fopenmp"], "ldflags": ["-fopenmp"] }]]
  },
  "targets": [
    {
      "target_name": "facestyle_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/gyp-sources.cjs avx2)"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "facestyle_avx512",
      "type": "static_library",
      "sources": ["<!@(node scripts/gyp-sources.cjs avx512)"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "facestyle",
      "sources": ["<!@(node scripts/gyp-sources.cjs core)"],
      "ldflags": ["-Wl,-z,nodelete"],
      "dependencies": ["facestyle_avx2", "facestyle_avx512"]
    }
  ]
}
