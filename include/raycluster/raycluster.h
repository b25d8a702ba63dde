/* raycluster: the stable C ABI.
 *
 * Only the functions and types of this header are exported by
 * libraycluster.so (every symbol starts with rc_). Conventions:
 *   - Fallible calls return rc_status: RC_OK (0) or a negative code. The
 *     detail of the last failure on the calling thread is in rc_last_error();
 *     every rc_ call resets it on entry.
 *   - Out parameters come first. `T **out` hands the caller an object to free
 *     with the matching rc_*_free(); rc_*_free(NULL) does nothing.
 *   - Strings returned through `char **out` are freed with rc_string_free().
 *   - No C++ exception ever crosses this boundary.
 * Thread-safety: functions may be called from any thread. An rc_spec is
 * immutable once loaded and may be shared between threads.
 */
#ifndef RAYCLUSTER_H
#define RAYCLUSTER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RC_API __attribute__((visibility("default")))
#else
#define RC_API
#endif

/* The ABI version this header describes; see rc_abi_version(). */
#define RC_ABI_VERSION 0

typedef enum rc_status {
  RC_OK = 0,
  RC_E_INVALID_ARGUMENT = -1,
  RC_E_CONFIG = -2,
  RC_E_IO = -3,
  RC_E_CANCELLED = -4,
  RC_E_TIMEOUT = -5,
  RC_E_NOT_FOUND = -6,
  RC_E_AUTH = -7,
  RC_E_THROTTLED = -8,
  RC_E_CAPACITY = -9,
  RC_E_QUOTA = -10,
  RC_E_INVALID_REQUEST = -11,
  RC_E_COMMAND_FAILED = -12,
  RC_E_UNAVAILABLE = -13,
  RC_E_INTERNAL = -14,
  RC_E_UNSUPPORTED = -15,
  RC_E_CONFLICT = -16
} rc_status;

/* Detail of the last failure on the calling thread. Every pointer stays
 * valid until the next rc_ call on this thread. */
typedef struct rc_error {
  rc_status code;
  const char *category;   /* e.g. "config", "io"; "ok" when there was none */
  const char *message;    /* human-readable, never NULL */
  const char *request_id; /* the cloud's request id, or "" */
  int retryable;          /* non-zero when repeating the call may succeed */
  /* For RC_E_CONFIG: where the first problem is (file "" and 0 otherwise). */
  const char *file;
  int line;
  int column;
  const char *key;
} rc_error;

/* The library version, e.g. "0.1.0". Static storage. */
RC_API const char *rc_version(void);
/* The ABI version of the loaded library (compare with RC_ABI_VERSION). */
RC_API int rc_abi_version(void);
/* Never NULL. */
RC_API const rc_error *rc_last_error(void);
/* Frees a string returned by this library. */
RC_API void rc_string_free(char *s);

/* A validated, normalised cluster config. */
typedef struct rc_spec rc_spec;

/* Loads a config file in any of the three dialects. On RC_E_CONFIG,
 * rc_last_error() names the first problem and its message lists all. */
RC_API rc_status rc_spec_load_file(rc_spec **out, const char *path);
/* Loads config text; `name` (may be NULL) stands for the file in messages. */
RC_API rc_status rc_spec_load_string(rc_spec **out, const char *yaml, const char *name);
/* The normalised spec as JSON text (caller frees with rc_string_free). */
RC_API rc_status rc_spec_to_json(char **out, const rc_spec *spec);
RC_API void rc_spec_free(rc_spec *spec);

#ifdef __cplusplus
}
#endif

#endif /* RAYCLUSTER_H */
