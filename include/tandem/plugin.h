/* tandem native prediction plugins: a versioned C ABI.
 *
 * A team that writes its prediction handler in C or C++ builds a shared
 * library exporting the functions below (with C linkage) and ships it in the
 * model package:
 *
 *   # tandem-model.yaml
 *   flavor: plugin
 *   library: liblinear_plugin.so     # a path inside the package
 *   config: {link: logistic}         # optional, handed to init() as JSON
 *
 * The runtime dlopen()s the library, calls tandem_plugin_abi_version() and
 * refuses the model unless it returns the TANDEM_PLUGIN_ABI_VERSION the
 * runtime was built with; then init(), then self_test(); predict() serves
 * requests; destroy() runs when the model is unloaded.
 *
 * Conventions: functions returning int return 0 on success and non-zero on
 * failure, writing a NUL-terminated message of at most errbuf_len bytes
 * (including the NUL) into errbuf. Rows are dense row-major float32, NaN =
 * missing. predict() may be called from several threads at once on the same
 * handle: it must be reentrant. No memory crosses the boundary except the
 * caller-owned buffers passed in.
 */
#ifndef TANDEM_PLUGIN_H_
#define TANDEM_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change to the functions or structs below. */
#define TANDEM_PLUGIN_ABI_VERSION 1

#if defined(__GNUC__)
#define TANDEM_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TANDEM_PLUGIN_EXPORT
#endif

/* What the plugin reports about its model at init. */
typedef struct tandem_plugin_info {
  int32_t num_features; /* input columns per row (> 0) */
  int32_t num_outputs;  /* scores per row (> 0) */
} tandem_plugin_info;

/* Must return TANDEM_PLUGIN_ABI_VERSION as seen when the plugin was built. */
TANDEM_PLUGIN_EXPORT uint32_t tandem_plugin_abi_version(void);

/* Loads the model from model_dir (the unpacked package). config_json is the
 * manifest's `config` value as JSON text ("{}" if absent). On success stores
 * an opaque handle in *handle and fills *info. */
TANDEM_PLUGIN_EXPORT int tandem_plugin_init(const char* model_dir, const char* config_json,
                                            void** handle, tandem_plugin_info* info,
                                            char* errbuf, size_t errbuf_len);

/* Scores n_rows rows of n_cols columns (n_cols == info.num_features) into
 * out, which holds n_rows * n_out_per_row floats (n_out_per_row ==
 * info.num_outputs). */
TANDEM_PLUGIN_EXPORT int tandem_plugin_predict(void* handle, const float* rows, size_t n_rows,
                                               size_t n_cols, float* out, size_t n_out_per_row,
                                               char* errbuf, size_t errbuf_len);

/* Checks the loaded model (e.g. known inputs against known outputs); a
 * failure refuses the model. */
TANDEM_PLUGIN_EXPORT int tandem_plugin_self_test(void* handle, char* errbuf, size_t errbuf_len);

/* Frees everything init() allocated. Called once, after the last predict(). */
TANDEM_PLUGIN_EXPORT void tandem_plugin_destroy(void* handle);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TANDEM_PLUGIN_H_ */
