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
 *   - Options structs start with `version` (set it with the RC_*_INIT
 *     initialiser); NULL options mean the defaults. A wrong version, a NULL
 *     required pointer, a negative count or a value outside an enum is
 *     RC_E_INVALID_ARGUMENT, never a crash.
 * Thread-safety: functions may be called from any thread. An rc_spec is
 * immutable once loaded and may be shared between threads; an rc_cluster
 * may be used from several threads at once; see "Operations" for
 * rc_operation and for the threads that call event callbacks.
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
 * rc_last_error() names the first problem (file, line, column, key) and its
 * message lists all of them. */
RC_API rc_status rc_spec_load_file(rc_spec **out, const char *path);
/* Loads config text; `name` (may be NULL) stands for the file in messages. */
RC_API rc_status rc_spec_load_string(rc_spec **out, const char *yaml, const char *name);
/* The normalised spec as JSON text (caller frees with rc_string_free). */
RC_API rc_status rc_spec_to_json(char **out, const rc_spec *spec);
RC_API void rc_spec_free(rc_spec *spec);

/* The stable name of a status code ("ok", "config", "timeout", ...), as in
 * rc_error.category; "unknown" for a value that is not an rc_status. */
RC_API const char *rc_status_name(rc_status status);

/* ------------------------------------------------------------------------
 * Events
 *
 * Long operations report what they do as events. An rc_event is borrowed:
 * it and every string read from it are valid only during the callback that
 * received it; copy what you keep. The accessors never fail and leave
 * rc_last_error() alone; given NULL they return 0, "" or RC_LOG_INFO.
 * ------------------------------------------------------------------------ */

typedef struct rc_event rc_event;

typedef enum rc_event_kind {
  RC_EVENT_NODE_STATUS = 1, /* a node's setup status changed: rc_event_status() */
  RC_EVENT_PROGRESS = 2,    /* rc_event_progress(): done of total steps */
  RC_EVENT_LOG = 3          /* a message or a line of command output */
} rc_event_kind;

typedef enum rc_log_level {
  RC_LOG_DEBUG = 0,
  RC_LOG_INFO = 1,
  RC_LOG_WARNING = 2,
  RC_LOG_ERROR = 3
} rc_log_level;

/* Called for each event. See "Threads and callbacks" below. */
typedef void (*rc_event_callback)(const rc_event *event, void *user_data);

RC_API rc_event_kind rc_event_kind_of(const rc_event *event);
RC_API rc_log_level rc_event_level(const rc_event *event);
/* The node the event is about; "" for cluster-wide events. */
RC_API const char *rc_event_node_id(const rc_event *event);
/* The node's user node type (e.g. "ray.worker.default"), or "". */
RC_API const char *rc_event_node_type(const rc_event *event);
/* RC_EVENT_NODE_STATUS: Ray's status name ("uninitialized", "waiting-for-ssh",
 * "syncing-files", "setting-up", "up-to-date", "update-failed", "terminated"). */
RC_API const char *rc_event_status(const rc_event *event);
/* The log line (no trailing newline) or a description of the event. */
RC_API const char *rc_event_message(const rc_event *event);
/* For lines of command output: "stdout" or "stderr"; otherwise "". */
RC_API const char *rc_event_stream(const rc_event *event);
/* When the event happened, in milliseconds since the Unix epoch. */
RC_API long long rc_event_time_ms(const rc_event *event);
/* RC_EVENT_PROGRESS: `done` of `total` steps (0 and 0 for other kinds).
 * Either out pointer may be NULL. RC_E_INVALID_ARGUMENT when event is NULL. */
RC_API rc_status rc_event_progress(const rc_event *event, int *done, int *total);

/* ------------------------------------------------------------------------
 * Clusters
 * ------------------------------------------------------------------------ */

/* One cluster: a spec bound to its provider and its local state folder
 * ($state_root/<cluster_name>/). Opening changes nothing in the cloud. */
typedef struct rc_cluster rc_cluster;

/* Options of rc_cluster_open(). Initialise with RC_CLUSTER_OPTIONS_INIT and
 * set what you need; NULL options mean the defaults. Fields are only ever
 * appended; `version` says which of them the caller knows. */
#define RC_CLUSTER_OPTIONS_VERSION 1
typedef struct rc_cluster_options {
  int version;                    /* RC_CLUSTER_OPTIONS_VERSION */
  const char *state_root;         /* NULL or "": $RAYCLUSTER_HOME, else ~/.raycluster; copied */
  int parallelism;                /* nodes set up at once; 0: 128 */
  long long command_timeout_ms;   /* limit per setup/start command; 0: none */
  int setup_attempts;             /* tries of a failing setup step; 0: 2 */
  rc_log_level min_log_level;     /* RC_EVENT_LOG events below this level are dropped */
  rc_event_callback on_event;     /* every event of every operation; may be NULL */
  void *user_data;                /* passed to on_event */
} rc_cluster_options;
#define RC_CLUSTER_OPTIONS_INIT \
  { RC_CLUSTER_OPTIONS_VERSION, NULL, 0, 0, 0, RC_LOG_DEBUG, NULL, NULL }

/* Opens the cluster the spec describes. The spec may be freed afterwards.
 * Errors: RC_E_INVALID_ARGUMENT (NULL out or spec, wrong options version,
 * negative counts, bad min_log_level), RC_E_UNSUPPORTED (a provider that
 * cannot run yet), RC_E_IO (the state folder). */
RC_API rc_status rc_cluster_open(rc_cluster **out, const rc_spec *spec,
                                 const rc_cluster_options *options);

/* Frees the handle. Operations still running keep what they need alive and
 * run to their end; free them too (rc_operation_free cancels and joins).
 * Must not be called from an event callback of this cluster. */
RC_API void rc_cluster_free(rc_cluster *cluster);

/* The cluster's nodes as JSON text (caller frees with rc_string_free):
 *   {"cluster_name": str, "cluster_id": str, "provider": str,
 *    "head_ip": str ("" without a head), "dashboard": str,
 *    "nodes": [{"id": str, "kind": "head"|"worker", "node_type": str,
 *               "state": "pending"|"running"|"stopping"|"stopped"|
 *                        "terminating"|"terminated",
 *               "status": Ray's setup status (see rc_event_status),
 *               "internal_ip": str, "external_ip": str,
 *               "launch_time": "YYYY-MM-DDTHH:MM:SSZ",
 *               "tags": {str: str}}]}
 * The head comes first, then the workers by launch time. Does not take the
 * cluster's lock: it may run while an operation changes the cluster. */
RC_API rc_status rc_cluster_status(char **out_json, rc_cluster *cluster);
/* The head's address (caller frees). RC_E_NOT_FOUND without a head. */
RC_API rc_status rc_cluster_head_ip(char **out, rc_cluster *cluster);
/* The workers' addresses as a JSON array of strings, e.g. ["127.1.2.2"]
 * ("[]" without workers; caller frees). */
RC_API rc_status rc_cluster_worker_ips(char **out_json, rc_cluster *cluster);

/* A port of the head reached from this machine. */
typedef struct rc_tunnel rc_tunnel;

/* Reaches `remote_port` on the head (its 127.0.0.1:remote_port; 0: the
 * head's Ray dashboard) from this machine: an SSH tunnel listening on
 * 127.0.0.1:local_port (0: a free port), or, where the provider reaches the
 * head's ports directly (localhost), the head's own address. Nothing is
 * opened to other machines. The tunnel carries connections on a thread of
 * its own, independent of the cluster handle, until rc_tunnel_free().
 * Blocks while it connects (at most the SSH connect timeout, 10 s): a UI
 * thread should call it from a worker thread.
 * Errors: RC_E_INVALID_ARGUMENT (NULL out or cluster, a port outside
 * 0-65535), RC_E_NOT_FOUND (no head), RC_E_UNAVAILABLE or RC_E_AUTH (the
 * head cannot be reached, or its host key is not the pinned one). */
RC_API rc_status rc_cluster_tunnel(rc_tunnel **out, rc_cluster *cluster, int remote_port,
                                   int local_port);
/* Where to connect: "127.0.0.1" for a tunnel, else the head's address.
 * Valid until rc_tunnel_free(); NULL for a NULL tunnel. */
RC_API const char *rc_tunnel_host(const rc_tunnel *tunnel);
/* The port to connect to; 0 for a NULL tunnel. */
RC_API int rc_tunnel_port(const rc_tunnel *tunnel);
/* 1 when the head's port is reached directly (no tunnel), else 0. */
RC_API int rc_tunnel_direct(const rc_tunnel *tunnel);
/* Closes the tunnel and every connection it carries; NULL is fine. Any
 * thread; not from inside an event callback of an operation. */
RC_API void rc_tunnel_free(rc_tunnel *tunnel);

/* ------------------------------------------------------------------------
 * Operations
 *
 * up, scale, down and exec run asynchronously: rc_cluster_*_async() starts
 * the operation on a thread of its own and returns at once with an
 * rc_operation. Wait for it, poll it, cancel it; rc_operation_result() then
 * gives its outcome. The blocking forms (rc_cluster_up() ...) are the async
 * form followed by an unbounded wait, and return the operation's status.
 *
 * Only one of up, scale and down runs at a time per cluster: starting
 * another while one runs fails at once with RC_E_CONFLICT, as does one
 * whose cluster another process is changing (the operation's result then).
 * exec, status, head_ip and worker_ips may run alongside them.
 *
 * Threads and callbacks:
 *   - Each operation has an event thread, created by the library, that calls
 *     the operation's on_event and then the cluster's on_event for each of
 *     its events, in order and one call at a time. Calls for different
 *     operations of one cluster are serialised too: no two callbacks of one
 *     cluster ever run at once.
 *   - Every event of an operation has been delivered before the operation
 *     counts as done (rc_operation_poll, rc_operation_wait).
 *   - A slow callback never slows the operation down nor loses events:
 *     they queue up (in memory) between the operation and its event thread.
 *   - Inside a callback you may read the event, call rc_cluster_status /
 *     head_ip / worker_ips, rc_operation_poll and rc_operation_cancel, and
 *     start other operations. You must not wait for an operation of the same
 *     cluster (rc_operation_wait with a timeout other than 0, the blocking
 *     forms), free the cluster, or free an operation other than the one
 *     calling you (freeing the calling operation is allowed: it is cancelled
 *     and released when it ends).
 *
 * Handles: an rc_cluster may be used from several threads at once. An
 * rc_operation may be polled, waited for and cancelled from several threads
 * at once; rc_operation_free() must be the last call on it.
 * ------------------------------------------------------------------------ */

typedef struct rc_operation rc_operation;

/* Options of rc_cluster_up(). NULL means the defaults. */
#define RC_UP_OPTIONS_VERSION 1
typedef struct rc_up_options {
  int version;                /* RC_UP_OPTIONS_VERSION */
  int force_setup;            /* non-zero: re-run setup even on up-to-date nodes */
  rc_event_callback on_event; /* this operation's events; may be NULL */
  void *user_data;
} rc_up_options;
#define RC_UP_OPTIONS_INIT { RC_UP_OPTIONS_VERSION, 0, NULL, NULL }

/* Options of rc_cluster_scale(). Required: there is no default count. */
#define RC_SCALE_OPTIONS_VERSION 1
typedef struct rc_scale_options {
  int version;                /* RC_SCALE_OPTIONS_VERSION */
  int workers;                /* the new number of workers of node_type; >= 0 */
  const char *node_type;      /* NULL or "": the config's only worker type */
  rc_event_callback on_event;
  void *user_data;
} rc_scale_options;
#define RC_SCALE_OPTIONS_INIT { RC_SCALE_OPTIONS_VERSION, 0, NULL, NULL, NULL }

/* Options of rc_cluster_down(). NULL means the defaults (every node down,
 * the cluster's volumes detached and kept). Version 1 callers pass the
 * struct without delete_storage; it is read only when version >= 2. */
#define RC_DOWN_OPTIONS_VERSION 2
typedef struct rc_down_options {
  int version;                /* RC_DOWN_OPTIONS_VERSION */
  int workers_only;           /* non-zero: keep the head */
  int keep_min_workers;       /* non-zero: keep the head and each type's min_workers */
  rc_event_callback on_event;
  void *user_data;
  /* version >= 2. Non-zero: also delete the cluster's volumes (the config's
   * `storage:` section) and their data, after every node is terminated.
   * Only with a full down: with workers_only or keep_min_workers the call
   * fails with RC_E_INVALID_ARGUMENT. No confirmation is asked here. */
  int delete_storage;
} rc_down_options;
#define RC_DOWN_OPTIONS_INIT { RC_DOWN_OPTIONS_VERSION, 0, 0, NULL, NULL, 0 }

/* Options of rc_cluster_exec(). NULL means the defaults. The command's
 * output lines also reach on_event as RC_EVENT_LOG events with a stream. */
#define RC_EXEC_OPTIONS_VERSION 1
typedef struct rc_exec_options {
  int version;                /* RC_EXEC_OPTIONS_VERSION */
  const char *node;           /* node id or address; NULL or "": the head */
  long long timeout_ms;       /* 0: none; then the result is RC_E_TIMEOUT */
  rc_event_callback on_event;
  void *user_data;
} rc_exec_options;
#define RC_EXEC_OPTIONS_INIT { RC_EXEC_OPTIONS_VERSION, NULL, 0, NULL, NULL }

/* Start an operation; *out is the caller's to free with rc_operation_free.
 * The strings in the options are copied. Argument errors are reported here
 * (RC_E_INVALID_ARGUMENT, RC_E_CONFLICT); everything else by the result. */
RC_API rc_status rc_cluster_up_async(rc_operation **out, rc_cluster *cluster,
                                     const rc_up_options *options);
RC_API rc_status rc_cluster_scale_async(rc_operation **out, rc_cluster *cluster,
                                        const rc_scale_options *options);
RC_API rc_status rc_cluster_down_async(rc_operation **out, rc_cluster *cluster,
                                       const rc_down_options *options);
/* Runs a shell command on a node. A non-zero exit status is not a failure:
 * read it with rc_operation_exec_result(). */
RC_API rc_status rc_cluster_exec_async(rc_operation **out, rc_cluster *cluster,
                                       const char *command, const rc_exec_options *options);

/* Blocking forms: start, wait without limit, return the operation's status
 * (its detail in rc_last_error()). */
RC_API rc_status rc_cluster_up(rc_cluster *cluster, const rc_up_options *options);
RC_API rc_status rc_cluster_scale(rc_cluster *cluster, const rc_scale_options *options);
RC_API rc_status rc_cluster_down(rc_cluster *cluster, const rc_down_options *options);
/* Any of the out pointers may be NULL; the strings are the caller's to free. */
RC_API rc_status rc_cluster_exec(int *out_exit_status, char **out_stdout, char **out_stderr,
                                 rc_cluster *cluster, const char *command,
                                 const rc_exec_options *options);

/* rc_operation_wait() without a limit. */
#define RC_WAIT_FOREVER (-1)

/* Waits up to timeout_ms (0: just look; RC_WAIT_FOREVER: no limit; other
 * negative values are RC_E_INVALID_ARGUMENT) for the operation to end.
 * Returns RC_E_TIMEOUT (category "wait_timeout") if it is still running,
 * otherwise the operation's own status, as rc_operation_result() does. Since
 * an exec can itself end in RC_E_TIMEOUT, tell the two apart with the
 * category or rc_operation_poll(). */
RC_API rc_status rc_operation_wait(rc_operation *op, long long timeout_ms);
/* *done = 1 once the operation ended (and its events were delivered). */
RC_API rc_status rc_operation_poll(const rc_operation *op, int *done);
/* Asks the operation to stop and returns at once. It stops at its next
 * step, ends the commands it started, and ends with RC_E_CANCELLED (unless
 * it finished first). Running the operation again resumes it; down cleans up
 * whatever a cancelled up left. Cancelling twice, or after the end, is fine. */
RC_API rc_status rc_operation_cancel(rc_operation *op);
/* The outcome of an ended operation: its status, with its detail (message,
 * category, retryable, request id, and file/line/column/key for
 * RC_E_CONFIG) in rc_last_error(). RC_E_UNAVAILABLE (category "running")
 * while it still runs. */
RC_API rc_status rc_operation_result(const rc_operation *op);
/* For an ended exec operation: the exit status and the captured output
 * (caller frees; any out pointer may be NULL). RC_E_INVALID_ARGUMENT for
 * other operations, RC_E_UNAVAILABLE while running, else the result's status
 * when the command could not run. */
RC_API rc_status rc_operation_exec_result(int *out_exit_status, char **out_stdout,
                                          char **out_stderr, const rc_operation *op);
/* Frees the operation. If it still runs, cancels it and waits for it to end
 * (typically well under a second). Called from the operation's own
 * callback, it cancels and returns; the library frees it when it ends. */
RC_API void rc_operation_free(rc_operation *op);

/* ------------------------------------------------------------------------
 * Autoscaling
 *
 * Ray's ray.autoscaler.sdk.request_resources() and the autoscaler's reconcile
 * loop (`raycluster monitor`), run inside the host process.
 * ------------------------------------------------------------------------ */

/* Asks the autoscaler to scale the cluster to hold `bundles_json`
 * immediately, regardless of the load: a JSON list of bundles, each an
 * object of resource amounts >= 0, e.g. [{"CPU": 1}, {"GPU": 1, "CPU": 4}].
 * As in Ray, a request replaces the previous one; "[]" withdraws it. Bundles
 * are packed against the cluster's total capacity. The request is persisted
 * in the cluster's state folder ($state_root/<cluster_name>/
 * requested_resources.json), where every autoscaler of the cluster reads it
 * on its next tick: an rc_autoscaler of this process and `raycluster
 * monitor` alike, with identical bundles stored once with their count.
 * `raycluster request-resources` parses with the same code and gives the
 * same messages. Limits: `bundles_json` of at most 1 MiB, at most 10,000,000
 * bundles, amounts finite and at most 1e18.
 * Errors: RC_E_INVALID_ARGUMENT (NULL arguments, text that is not such a
 * list, a limit passed; the message says what is wrong or names the limit),
 * RC_E_IO. */
RC_API rc_status rc_request_resources(rc_cluster *cluster, const char *bundles_json);

/* The reconcile loop of one cluster, on a thread of its own. */
typedef struct rc_autoscaler rc_autoscaler;

/* Options of rc_autoscaler_start(). NULL means the defaults. */
#define RC_AUTOSCALER_OPTIONS_VERSION 1
typedef struct rc_autoscaler_options {
  int version;                /* RC_AUTOSCALER_OPTIONS_VERSION */
  long long interval_ms;      /* between tick starts; 0: 5000; clamped to [100, 600000] */
  const char *dashboard_url;  /* Ray's head dashboard, e.g. "http://127.0.0.1:8265";
                                 NULL or "": the provider's, else an SSH tunnel the
                                 autoscaler opens to the head; copied */
  rc_event_callback on_event; /* the loop's decisions; may be NULL */
  void *user_data;            /* passed to on_event */
} rc_autoscaler_options;
#define RC_AUTOSCALER_OPTIONS_INIT { RC_AUTOSCALER_OPTIONS_VERSION, 0, NULL, NULL, NULL }

/* Starts the reconcile loop of the cluster on a new thread; *out is the
 * caller's to free with rc_autoscaler_free. Each tick lists the nodes, reads
 * the load (Ray's head report, the rc_request_resources() request), plans,
 * launches and sets up workers, and terminates idle and outdated ones.
 * Ticks are skipped while an up, scale or down of the cluster runs; the
 * other way round, one started while a tick holds the cluster waits up to a
 * second, then fails with RC_E_CONFLICT. A failure inside a tick becomes an
 * event, never an end of the loop. The cluster handle may
 * be freed before the autoscaler: the autoscaler keeps what it needs.
 *
 * Events: the loop's decisions reach options->on_event (not the cluster's
 * callback) as RC_EVENT_LOG events whose message is one JSON object, as
 * `raycluster monitor --json` prints it:
 *   {"time": <unix s>, "event": "launch"|"terminate"|"demand"|"tick"|...,
 *    "node_type": ..., "count": ..., "reason": ..., "node_ids": [...], ...}
 * with rc_event_node_type() the node type and rc_event_node_id() the node
 * when there is exactly one; "tick" and "skipped" come at RC_LOG_DEBUG,
 * failures ("launch_failed", "setup_failed", "load_error", "infeasible") at
 * RC_LOG_WARNING, the rest at RC_LOG_INFO. The setup of the nodes it launches
 * reports through the cluster's on_event, as an up does.
 *
 * Threads: the callback is called from the loop's thread and from the
 * threads setting nodes up, one call at a time, never together with another
 * callback of the same cluster. In it you may read the event, call
 * rc_cluster_status / head_ip / worker_ips, rc_request_resources, and start
 * operations (async forms). You must not wait for an operation of the
 * cluster or free the cluster. rc_autoscaler_stop, which would wait for the
 * calling thread, is refused (RC_E_INVALID_ARGUMENT) inside any callback of
 * the cluster; rc_autoscaler_free there returns at once and a library
 * thread stops and frees the autoscaler. */
RC_API rc_status rc_autoscaler_start(rc_autoscaler **out, rc_cluster *cluster,
                                     const rc_autoscaler_options *options);
/* Stops the loop: cancels the tick in progress and the setups it started,
 * and joins their threads (typically well under a second). Idempotent; the
 * handle stays valid (free it with rc_autoscaler_free). */
RC_API rc_status rc_autoscaler_stop(rc_autoscaler *autoscaler);
/* Stops the loop if it runs (as rc_autoscaler_stop), then frees the handle.
 * NULL does nothing. Must be the last call on the handle. */
RC_API void rc_autoscaler_free(rc_autoscaler *autoscaler);

#ifdef __cplusplus
}
#endif

#endif /* RAYCLUSTER_H */
