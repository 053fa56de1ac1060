// A deliberately broken plugin for the loader's tests, built two ways:
// TEST_PLUGIN_BAD_ABI reports the next ABI version; TEST_PLUGIN_NO_SELF_TEST
// does not export tandem_plugin_self_test.
#include "tandem/plugin.h"

extern "C" {

uint32_t tandem_plugin_abi_version(void) {
#ifdef TEST_PLUGIN_BAD_ABI
  return TANDEM_PLUGIN_ABI_VERSION + 1;
#else
  return TANDEM_PLUGIN_ABI_VERSION;
#endif
}

int tandem_plugin_init(const char*, const char*, void** handle, tandem_plugin_info* info, char*,
                       size_t) {
  *handle = nullptr;
  info->num_features = 1;
  info->num_outputs = 1;
  return 0;
}

int tandem_plugin_predict(void*, const float* rows, size_t n_rows, size_t, float* out, size_t,
                          char*, size_t) {
  for (size_t i = 0; i < n_rows; ++i) out[i] = rows[i];
  return 0;
}

#ifndef TEST_PLUGIN_NO_SELF_TEST
int tandem_plugin_self_test(void*, char*, size_t) { return 0; }
#endif

void tandem_plugin_destroy(void*) {}

}  // extern "C"
