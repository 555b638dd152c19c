// envData (see env_data.h).
#include "napi/env_data.h"

namespace facestyle::napi {

EnvData& envData(Napi::Env env) {
  if (EnvData* d = env.GetInstanceData<EnvData>()) return *d;
  auto* d = new EnvData();
  env.SetInstanceData<EnvData>(d);  // deleted (with its references) when the environment goes away
  return *d;
}

}  // namespace facestyle::napi
