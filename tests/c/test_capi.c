/* The C ABI from plain C (C11, -pedantic): argument checking, error detail,
 * the lifecycle of a localhost cluster with shell-command nodes, events,
 * asynchronous operations, cancellation from another thread, and threads.
 *
 * Usage: test_capi [TEST_NAME...]   (no names: every test) */
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "raycluster/raycluster.h"

static _Atomic int g_failures = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failures++;                                                          \
    }                                                                        \
  } while (0)

#define CHECK_OK(call)                                                               \
  do {                                                                               \
    rc_status s_ = (call);                                                           \
    if (s_ != RC_OK) {                                                               \
      fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call, s_, \
              rc_last_error()->message);                                             \
      g_failures++;                                                                  \
    }                                                                                \
  } while (0)

#define CHECK_STATUS(call, want)                                                     \
  do {                                                                               \
    rc_status s_ = (call);                                                           \
    if (s_ != (want)) {                                                              \
      fprintf(stderr, "%s:%d: %s returned %d, want %d (%s)\n", __FILE__, __LINE__,  \
              #call, s_, (want), rc_last_error()->message);                          \
      g_failures++;                                                                  \
    }                                                                                \
  } while (0)

/* Per test: far beyond what any test needs, so only a hang reaches it. */
enum { kHangGuardSeconds = 120 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* ---- fixtures -------------------------------------------------------- */

static char g_root[256]; /* the state root of this run */

/* A localhost cluster of shell-command nodes: a head and `workers` workers
 * whose setup sleeps `delay` seconds. */
static rc_spec *shell_spec(const char *name, int workers, int delay) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "cluster_name: %s\n"
           "provider:\n"
           "  type: localhost\n"
           "autoscaler: local\n" /* no Ray: no load for a head autoscaler */
           "max_workers: 4\n"
           "head_node_type: head\n"
           "available_node_types:\n"
           "  head:\n"
           "    resources: {CPU: 1}\n"
           "    min_workers: 0\n"
           "    max_workers: 0\n"
           "  worker:\n"
           "    resources: {CPU: 1}\n"
           "    min_workers: 0\n"
           "    max_workers: 3\n"
           "    initial_workers: %d\n"
           "setup_commands:\n"
           "  - echo setup >> $RAYCLUSTER_NODE_DIR/setup.count\n"
           "worker_setup_commands:\n"
           "  - sleep %d\n"
           "head_start_ray_commands:\n"
           "  - nohup sleep 3600 > /dev/null 2>&1 &\n"
           "worker_start_ray_commands:\n"
           "  - nohup sleep 3600 > /dev/null 2>&1 &\n",
           name, workers, delay);
  rc_spec *spec = NULL;
  rc_status s = rc_spec_load_string(&spec, yaml, name);
  if (s != RC_OK) {
    fprintf(stderr, "shell_spec: %s\n", rc_last_error()->message);
    exit(2);
  }
  return spec;
}

static rc_cluster *open_cluster(const rc_spec *spec, rc_event_callback cb, void *user_data) {
  rc_cluster_options o = RC_CLUSTER_OPTIONS_INIT;
  rc_cluster *c = NULL;
  o.state_root = g_root;
  o.on_event = cb;
  o.user_data = user_data;
  if (rc_cluster_open(&c, spec, &o) != RC_OK) {
    fprintf(stderr, "rc_cluster_open: %s\n", rc_last_error()->message);
    exit(2);
  }
  return c;
}

/* The value of "key": "value" in JSON text (first occurrence), or "". */
static void json_string(const char *json, const char *key, char *out, size_t size) {
  char pat[128];
  const char *p;
  size_t n = 0;
  snprintf(pat, sizeof pat, "\"%s\": \"", key);
  out[0] = '\0';
  p = strstr(json, pat);
  if (!p) return;
  p += strlen(pat);
  while (*p && *p != '"' && n + 1 < size) out[n++] = *p++;
  out[n] = '\0';
}

static int count_substr(const char *s, const char *needle) {
  int n = 0;
  while ((s = strstr(s, needle)) != NULL) {
    n++;
    s += strlen(needle);
  }
  return n;
}

/* Nodes of the cluster now: counts "kind": "head" and "kind": "worker". */
static void node_counts(rc_cluster *c, int *heads, int *workers, char *cluster_id, size_t idsize) {
  char *json = NULL;
  *heads = *workers = -1;
  if (rc_cluster_status(&json, c) != RC_OK) {
    fprintf(stderr, "status: %s\n", rc_last_error()->message);
    g_failures++;
    return;
  }
  *heads = count_substr(json, "\"kind\": \"head\"");
  *workers = count_substr(json, "\"kind\": \"worker\"");
  if (cluster_id) json_string(json, "cluster_id", cluster_id, idsize);
  rc_string_free(json);
}

/* Live processes whose environment carries RAYCLUSTER_NODE=<cluster_id>/. */
static int processes_of(const char *cluster_id) {
  char want[128];
  int found = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  snprintf(want, sizeof want, "RAYCLUSTER_NODE=%s/", cluster_id);
  if (!d) return -1;
  while ((e = readdir(d)) != NULL) {
    char path[300], buf[65536], state = '?';
    FILE *f;
    size_t n, i;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    f = fopen(path, "r");
    if (!f) continue;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    {
      char *close_paren = strrchr(buf, ')');
      if (close_paren && close_paren[1] == ' ') state = close_paren[2];
    }
    if (state == 'Z' || state == 'X') continue;
    snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
    f = fopen(path, "r");
    if (!f) continue;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (i = 0; i < n; i += strlen(buf + i) + 1)
      if (strncmp(buf + i, want, strlen(want)) == 0) {
        found++;
        break;
      }
  }
  closedir(d);
  return found;
}

/* Takes the cluster down and checks nothing of it is left. */
static void down_and_check_gone(rc_cluster *c) {
  int heads, workers;
  char id[64] = "";
  node_counts(c, &heads, &workers, id, sizeof id);
  CHECK_OK(rc_cluster_down(c, NULL));
  node_counts(c, &heads, &workers, NULL, 0);
  CHECK(heads == 0 && workers == 0);
  CHECK(id[0] != '\0');
  if (id[0]) CHECK(processes_of(id) == 0);
}

/* ---- event recording --------------------------------------------------- */

typedef struct events {
  pthread_mutex_t mu;
  int total, node_status, progress, log, stdout_lines;
  int concurrent, max_concurrent;
  int progress_done, progress_total;
  int worker_setting_up; /* a worker reached setting-up */
  pthread_t thread;
  int threads_seen; /* distinct event threads observed, up to 2 */
  char last_status[64];
} events;

static void events_init(events *ev) {
  memset(ev, 0, sizeof *ev);
  pthread_mutex_init(&ev->mu, NULL);
}

static void on_event(const rc_event *e, void *user_data) {
  events *ev = (events *)user_data;
  int done = 0, total = 0;
  pthread_mutex_lock(&ev->mu);
  ev->concurrent++;
  if (ev->concurrent > ev->max_concurrent) ev->max_concurrent = ev->concurrent;
  if (ev->threads_seen == 0 || !pthread_equal(ev->thread, pthread_self())) {
    ev->thread = pthread_self();
    ev->threads_seen++;
  }
  pthread_mutex_unlock(&ev->mu);

  /* Everything read here is valid only now. */
  switch (rc_event_kind_of(e)) {
    case RC_EVENT_NODE_STATUS:
      pthread_mutex_lock(&ev->mu);
      ev->node_status++;
      snprintf(ev->last_status, sizeof ev->last_status, "%s", rc_event_status(e));
      if (strcmp(rc_event_status(e), "setting-up") == 0 &&
          strcmp(rc_event_node_type(e), "worker") == 0)
        ev->worker_setting_up = 1;
      pthread_mutex_unlock(&ev->mu);
      break;
    case RC_EVENT_PROGRESS:
      CHECK_OK(rc_event_progress(e, &done, &total));
      CHECK(done >= 1 && done <= total);
      pthread_mutex_lock(&ev->mu);
      ev->progress++;
      ev->progress_done = done;
      ev->progress_total = total;
      pthread_mutex_unlock(&ev->mu);
      break;
    case RC_EVENT_LOG:
      CHECK(rc_event_level(e) >= RC_LOG_DEBUG && rc_event_level(e) <= RC_LOG_ERROR);
      CHECK(rc_event_message(e) != NULL);
      pthread_mutex_lock(&ev->mu);
      ev->log++;
      if (strcmp(rc_event_stream(e), "stdout") == 0) ev->stdout_lines++;
      pthread_mutex_unlock(&ev->mu);
      break;
    default:
      CHECK(!"unknown event kind");
  }
  CHECK(rc_event_time_ms(e) > 1600000000000LL);
  sleep_ms(1); /* widen the window in which overlapping calls would show */
  pthread_mutex_lock(&ev->mu);
  ev->total++;
  ev->concurrent--;
  pthread_mutex_unlock(&ev->mu);
}

static int worker_setting_up(events *ev) {
  int v;
  pthread_mutex_lock(&ev->mu);
  v = ev->worker_setting_up;
  pthread_mutex_unlock(&ev->mu);
  return v;
}

/* ---- tests ------------------------------------------------------------- */

static void test_version(void) {
  CHECK(rc_abi_version() == RC_ABI_VERSION);
  CHECK(strcmp(rc_version(), "0.1.0") == 0);
  CHECK(strcmp(rc_status_name(RC_OK), "ok") == 0);
  CHECK(strcmp(rc_status_name(RC_E_CONFIG), "config") == 0);
  CHECK(strcmp(rc_status_name((rc_status)-999), "unknown") == 0);
  CHECK(strcmp(rc_status_name((rc_status)12345), "unknown") == 0);
  CHECK(rc_last_error() != NULL && rc_last_error()->message != NULL);
}

static void check_invalid(rc_status s, const char *what) {
  if (s != RC_E_INVALID_ARGUMENT) {
    fprintf(stderr, "%s: returned %d, want RC_E_INVALID_ARGUMENT\n", what, s);
    g_failures++;
    return;
  }
  CHECK(rc_last_error()->code == RC_E_INVALID_ARGUMENT);
  CHECK(strcmp(rc_last_error()->category, "invalid_argument") == 0);
  CHECK(strlen(rc_last_error()->message) > 0);
}

#define INVALID(call) check_invalid((call), #call)

static void test_null_and_garbage_arguments(void) {
  rc_spec *spec = shell_spec("garbage", 1, 0);
  rc_cluster *c = NULL;
  rc_operation *op = NULL;
  char *str = NULL;
  int done = 0, exit_status = 0;
  rc_cluster_options co = RC_CLUSTER_OPTIONS_INIT;
  rc_up_options uo = RC_UP_OPTIONS_INIT;
  rc_scale_options so = RC_SCALE_OPTIONS_INIT;
  rc_down_options dno = RC_DOWN_OPTIONS_INIT;
  rc_exec_options eo = RC_EXEC_OPTIONS_INIT;

  INVALID(rc_spec_load_file(NULL, "x.yaml"));
  INVALID(rc_spec_load_file((rc_spec **)&str, NULL));
  INVALID(rc_spec_load_string(NULL, "a: 1", NULL));
  INVALID(rc_spec_load_string((rc_spec **)&str, NULL, NULL));
  INVALID(rc_spec_to_json(NULL, spec));
  INVALID(rc_spec_to_json(&str, NULL));
  CHECK(str == NULL);

  INVALID(rc_cluster_open(NULL, spec, NULL));
  INVALID(rc_cluster_open(&c, NULL, NULL));
  CHECK(c == NULL);
  co.version = 0;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.version = 99;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.version = RC_CLUSTER_OPTIONS_VERSION;
  co.parallelism = -1;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.parallelism = 0;
  co.command_timeout_ms = -5;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.command_timeout_ms = 0;
  co.setup_attempts = -2;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.setup_attempts = 0;
  co.min_log_level = (rc_log_level)7;
  INVALID(rc_cluster_open(&c, spec, &co));
  co.min_log_level = (rc_log_level)-1;
  INVALID(rc_cluster_open(&c, spec, &co));
  CHECK(c == NULL);

  INVALID(rc_cluster_status(NULL, NULL));
  INVALID(rc_cluster_status(&str, NULL));
  INVALID(rc_cluster_head_ip(&str, NULL));
  INVALID(rc_cluster_worker_ips(&str, NULL));
  {
    rc_tunnel *t = NULL;
    INVALID(rc_cluster_tunnel(NULL, NULL, 80, 0));
    INVALID(rc_cluster_tunnel(&t, NULL, 80, 0));
    CHECK(t == NULL);
    CHECK(rc_tunnel_host(NULL) == NULL && rc_tunnel_port(NULL) == 0 && rc_tunnel_direct(NULL) == 0);
    rc_tunnel_free(NULL);
  }
  INVALID(rc_cluster_up_async(NULL, NULL, NULL));
  INVALID(rc_cluster_up_async(&op, NULL, NULL));
  INVALID(rc_cluster_up(NULL, NULL));
  INVALID(rc_cluster_scale(NULL, &so));
  INVALID(rc_cluster_down(NULL, NULL));
  INVALID(rc_cluster_exec(&exit_status, NULL, NULL, NULL, "true", NULL));
  CHECK(op == NULL);

  c = open_cluster(spec, NULL, NULL);
  INVALID(rc_cluster_status(NULL, c));
  INVALID(rc_cluster_up_async(NULL, c, NULL));
  uo.version = 2;
  INVALID(rc_cluster_up_async(&op, c, &uo));
  uo.version = -1;
  INVALID(rc_cluster_up(c, &uo));
  INVALID(rc_cluster_scale_async(&op, c, NULL)); /* the count is required */
  so.workers = -1;
  INVALID(rc_cluster_scale_async(&op, c, &so));
  INVALID(rc_cluster_scale(c, &so));
  so.workers = 1;
  so.version = 0;
  INVALID(rc_cluster_scale(c, &so));
  dno.version = 1000;
  INVALID(rc_cluster_down_async(&op, c, &dno));
  INVALID(rc_cluster_exec_async(&op, c, NULL, NULL));
  eo.timeout_ms = -1;
  INVALID(rc_cluster_exec_async(&op, c, "true", &eo));
  eo.timeout_ms = 0;
  eo.version = 3;
  INVALID(rc_cluster_exec(NULL, NULL, NULL, c, "true", &eo));
  CHECK(op == NULL);

  INVALID(rc_operation_wait(NULL, 0));
  INVALID(rc_operation_poll(NULL, &done));
  INVALID(rc_operation_cancel(NULL));
  INVALID(rc_operation_result(NULL));
  INVALID(rc_operation_exec_result(&exit_status, NULL, NULL, NULL));
  INVALID(rc_event_progress(NULL, &done, NULL));

  /* An operation for the remaining checks: exec on a cluster with no head. */
  CHECK_OK(rc_cluster_exec_async(&op, c, "true", NULL));
  INVALID(rc_operation_poll(op, NULL));
  INVALID(rc_operation_wait(op, -2));
  CHECK_STATUS(rc_operation_wait(op, RC_WAIT_FOREVER), RC_E_NOT_FOUND);
  CHECK(strcmp(rc_last_error()->category, "not_found") == 0);
  CHECK_STATUS(rc_operation_exec_result(&exit_status, NULL, NULL, op), RC_E_NOT_FOUND);
  rc_operation_free(op);
  op = NULL;

  /* Accessors and frees take NULL. */
  CHECK(rc_event_kind_of(NULL) == 0);
  CHECK(strcmp(rc_event_message(NULL), "") == 0);
  CHECK(strcmp(rc_event_node_id(NULL), "") == 0);
  CHECK(strcmp(rc_event_status(NULL), "") == 0);
  CHECK(rc_event_time_ms(NULL) == 0);
  rc_spec_free(NULL);
  rc_cluster_free(NULL);
  rc_operation_free(NULL);
  rc_string_free(NULL);

  /* A later success resets the last error. */
  CHECK_OK(rc_spec_to_json(&str, spec));
  CHECK(rc_last_error()->code == RC_OK);
  CHECK(strcmp(rc_last_error()->category, "ok") == 0);
  CHECK(strstr(str, "garbage") != NULL);
  rc_string_free(str);
  rc_cluster_free(c);
  rc_spec_free(spec);
}

static void test_config_error_detail(void) {
  rc_spec *spec = (rc_spec *)&g_root; /* must be overwritten with NULL */
  const rc_error *err;
  const char *yaml =
      "cluster_name: bad\n"
      "provider:\n"
      "  type: localhost\n"
      "head_node_type: head\n"
      "available_node_types:\n"
      "  head:\n"
      "    resources: {CPU: 1}\n"
      "    max_wrokers: 0\n";
  CHECK_STATUS(rc_spec_load_string(&spec, yaml, "bad.yaml"), RC_E_CONFIG);
  CHECK(spec == NULL);
  err = rc_last_error();
  CHECK(err->code == RC_E_CONFIG);
  CHECK(strcmp(err->category, "config") == 0);
  CHECK(strcmp(err->file, "bad.yaml") == 0);
  CHECK(err->line == 8);
  CHECK(err->column == 5);
  CHECK(strstr(err->key, "max_wrokers") != NULL);
  CHECK(strstr(err->message, "max_workers") != NULL); /* the did-you-mean */
  CHECK(err->retryable == 0);

  CHECK_STATUS(rc_spec_load_file(&spec, "/nonexistent/cluster.yaml"), RC_E_IO);
  CHECK(strstr(rc_last_error()->message, "/nonexistent/cluster.yaml") != NULL);
}

static void test_lifecycle_and_events(void) {
  rc_spec *spec = shell_spec("lifecycle", 1, 0);
  events ev;
  rc_cluster *c;
  char *json = NULL, *out = NULL, *err = NULL, head_ip[64] = "";
  int heads, workers, exit_status = -1;
  rc_scale_options so = RC_SCALE_OPTIONS_INIT;
  rc_exec_options eo = RC_EXEC_OPTIONS_INIT;
  events_init(&ev);
  c = open_cluster(spec, on_event, &ev);
  rc_spec_free(spec); /* the cluster keeps its own copy */

  CHECK_OK(rc_cluster_up(c, NULL));
  node_counts(c, &heads, &workers, NULL, 0);
  CHECK(heads == 1 && workers == 1);
  CHECK(ev.node_status >= 2 && ev.progress >= 2 && ev.log >= 1);
  CHECK(ev.max_concurrent == 1);
  CHECK(ev.progress_done == ev.progress_total);

  CHECK_OK(rc_cluster_status(&json, c));
  CHECK(strstr(json, "\"status\": \"up-to-date\"") != NULL);
  json_string(json, "head_ip", head_ip, sizeof head_ip);
  rc_string_free(json);
  CHECK_OK(rc_cluster_head_ip(&out, c));
  CHECK(strcmp(out, head_ip) == 0 && strncmp(out, "127.", 4) == 0);
  rc_string_free(out);
  CHECK_OK(rc_cluster_worker_ips(&json, c));
  CHECK(json[0] == '[' && count_substr(json, "\"127.") == 1);
  rc_string_free(json);
  {
    /* The localhost head's ports are reached directly: no tunnel. */
    rc_tunnel *t = NULL;
    CHECK_STATUS(rc_cluster_tunnel(&t, c, 70000, 0), RC_E_INVALID_ARGUMENT);
    CHECK_STATUS(rc_cluster_tunnel(&t, c, 8080, -1), RC_E_INVALID_ARGUMENT);
    CHECK_OK(rc_cluster_tunnel(&t, c, 8080, 0));
    CHECK(t != NULL && rc_tunnel_direct(t) == 1);
    CHECK(strcmp(rc_tunnel_host(t), head_ip) == 0 && rc_tunnel_port(t) == 8080);
    rc_tunnel_free(t);
  }

  /* exec: a non-zero exit status is a result, not an error. */
  CHECK_OK(rc_cluster_exec(&exit_status, &out, &err, c, "echo head=$RAY_HEAD_IP; echo oops >&2; exit 3",
                           NULL));
  CHECK(exit_status == 3);
  CHECK(strncmp(out, "head=127.", 9) == 0);
  CHECK(strcmp(err, "oops\n") == 0);
  CHECK(ev.stdout_lines == 1);
  rc_string_free(out);
  rc_string_free(err);
  eo.node = "no-such-node";
  CHECK_STATUS(rc_cluster_exec(&exit_status, NULL, NULL, c, "true", &eo), RC_E_NOT_FOUND);

  so.workers = 2;
  CHECK_OK(rc_cluster_scale(c, &so));
  node_counts(c, &heads, &workers, NULL, 0);
  CHECK(heads == 1 && workers == 2);
  so.workers = 9;
  CHECK_STATUS(rc_cluster_scale(c, &so), RC_E_INVALID_ARGUMENT);
  CHECK(strstr(rc_last_error()->message, "max_workers is 3") != NULL);
  so.workers = 1;
  so.node_type = "nope";
  CHECK_STATUS(rc_cluster_scale(c, &so), RC_E_INVALID_ARGUMENT);

  down_and_check_gone(c);
  CHECK(ev.max_concurrent == 1);
  rc_cluster_free(c);
  pthread_mutex_destroy(&ev.mu);
}

/* A worker setup that would outlast any test: an operation running it ends
 * only when cancelled. */
#define NEVER_ENDS 86400

typedef struct canceller {
  rc_operation *op;
  events *ev;
  int cancelled; /* set just before rc_operation_cancel */
} canceller;

static void *cancel_when_setting_up(void *arg) {
  canceller *cn = (canceller *)arg;
  double deadline = now_s() + 60;
  while (!worker_setting_up(cn->ev) && now_s() < deadline) sleep_ms(10);
  sleep_ms(200); /* let the worker's setup command start */
  __atomic_store_n(&cn->cancelled, 1, __ATOMIC_SEQ_CST);
  CHECK_OK(rc_operation_cancel(cn->op));
  return NULL;
}

static void test_async_up_cancel_from_another_thread(void) {
  rc_spec *spec = shell_spec("cancelled", 1, NEVER_ENDS);
  events ev;
  rc_cluster *c;
  rc_operation *op = NULL, *second = NULL;
  rc_up_options uo = RC_UP_OPTIONS_INIT;
  canceller cn;
  pthread_t t;
  int done = 1, heads, workers, statuses = 0, ended_after_cancel = 0;
  double hang_guard;
  events_init(&ev);
  c = open_cluster(spec, NULL, NULL);
  uo.on_event = on_event; /* this time, the operation's own callback */
  uo.user_data = &ev;

  /* Returns while the operation runs (its worker's setup never ends). */
  CHECK_OK(rc_cluster_up_async(&op, c, &uo));
  CHECK_OK(rc_operation_poll(op, &done));
  CHECK(done == 0);
  /* Only one changing operation per cluster. */
  CHECK_STATUS(rc_cluster_up_async(&second, c, NULL), RC_E_CONFLICT);
  CHECK(second == NULL);
  CHECK_STATUS(rc_cluster_down(c, NULL), RC_E_CONFLICT);
  CHECK_STATUS(rc_operation_wait(op, 20), RC_E_TIMEOUT);
  CHECK(strcmp(rc_last_error()->category, "wait_timeout") == 0);
  CHECK_STATUS(rc_operation_result(op), RC_E_UNAVAILABLE);

  cn.op = op;
  cn.ev = &ev;
  cn.cancelled = 0;
  pthread_create(&t, NULL, cancel_when_setting_up, &cn);
  /* Status while the up runs, from this thread. Only the cancel can end the
   * up; the guard only keeps a broken cancel from hanging the suite. */
  hang_guard = now_s() + 120;
  while (rc_operation_poll(op, &done) == RC_OK && !done && now_s() < hang_guard) {
    node_counts(c, &heads, &workers, NULL, 0);
    CHECK(heads >= 0 && heads <= 1);
    statuses++;
    sleep_ms(50);
  }
  ended_after_cancel = done && __atomic_load_n(&cn.cancelled, __ATOMIC_SEQ_CST);
  if (!done) rc_operation_cancel(op); /* the check below fails; end it anyway */
  pthread_join(t, NULL);
  CHECK(done == 1);
  CHECK(ended_after_cancel);
  CHECK(statuses >= 3);
  CHECK_STATUS(rc_operation_wait(op, RC_WAIT_FOREVER), RC_E_CANCELLED);
  CHECK(strcmp(rc_last_error()->category, "cancelled") == 0);
  CHECK_STATUS(rc_operation_result(op), RC_E_CANCELLED);
  CHECK_OK(rc_operation_cancel(op)); /* after the end: fine */
  rc_operation_free(op);

  /* What the cancelled up left, down cleans. */
  node_counts(c, &heads, &workers, NULL, 0);
  CHECK(heads == 1 && workers == 1);
  down_and_check_gone(c);
  rc_cluster_free(c);
  rc_spec_free(spec);
  pthread_mutex_destroy(&ev.mu);
}

static void test_free_running_operation_cancels_and_joins(void) {
  rc_spec *spec = shell_spec("freed", 1, NEVER_ENDS);
  events ev;
  rc_cluster *c;
  rc_operation *op = NULL;
  rc_up_options uo = RC_UP_OPTIONS_INIT;
  double deadline;
  events_init(&ev);
  c = open_cluster(spec, on_event, &ev);
  CHECK_OK(rc_cluster_up_async(&op, c, &uo));
  deadline = now_s() + 60;
  while (!worker_setting_up(&ev) && now_s() < deadline) sleep_ms(10);
  CHECK(worker_setting_up(&ev));
  rc_cluster_free(c); /* the operation keeps what it needs */
  /* The up would never end: free returning at all shows that it cancelled
   * the operation and joined its thread (main's alarm guards a hang). */
  rc_operation_free(op);
  c = open_cluster(spec, NULL, NULL);
  down_and_check_gone(c);
  rc_cluster_free(c);
  rc_spec_free(spec);
  pthread_mutex_destroy(&ev.mu);
}

typedef struct worker_args {
  const char *name;
  int ok;
  int events;
} worker_args;

static void *cluster_thread(void *arg) {
  worker_args *w = (worker_args *)arg;
  rc_spec *spec = shell_spec(w->name, 1, 1);
  events ev;
  rc_cluster *c;
  int heads, workers, before = g_failures;
  events_init(&ev);
  c = open_cluster(spec, on_event, &ev);
  CHECK_OK(rc_cluster_up(c, NULL));
  node_counts(c, &heads, &workers, NULL, 0);
  CHECK(heads == 1 && workers == 1);
  down_and_check_gone(c);
  CHECK(ev.max_concurrent == 1);
  w->events = ev.total;
  rc_cluster_free(c);
  rc_spec_free(spec);
  pthread_mutex_destroy(&ev.mu);
  w->ok = g_failures == before;
  return NULL;
}

static void test_two_threads_two_clusters(void) {
  pthread_t a, b;
  worker_args wa = {"thread-a", 0, 0}, wb = {"thread-b", 0, 0};
  pthread_create(&a, NULL, cluster_thread, &wa);
  pthread_create(&b, NULL, cluster_thread, &wb);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(wa.ok && wb.ok);
  CHECK(wa.events > 0 && wb.events > 0);
}

/* Waiting inside a callback of the same cluster would deadlock: refused.
 * The operation's handle is published under a mutex: the first event may
 * arrive before rc_cluster_up_async has returned it. */
static pthread_mutex_t g_callback_mu = PTHREAD_MUTEX_INITIALIZER;
static rc_operation *g_callback_op;
static rc_cluster *g_callback_cluster;
static int g_callback_checked;

static void on_event_waits(const rc_event *e, void *user_data) {
  int done = 0;
  rc_operation *op;
  (void)e;
  (void)user_data;
  pthread_mutex_lock(&g_callback_mu);
  op = g_callback_op;
  if (g_callback_checked) op = NULL;
  g_callback_checked = 1;
  pthread_mutex_unlock(&g_callback_mu);
  if (!op) return;
  if (rc_operation_wait(op, 1000) != RC_E_INVALID_ARGUMENT) g_failures++;
  if (rc_cluster_down(g_callback_cluster, NULL) != RC_E_INVALID_ARGUMENT) g_failures++;
  if (rc_operation_poll(op, &done) != RC_OK || done) g_failures++;
}

static void test_wait_inside_callback_is_refused(void) {
  rc_spec *spec = shell_spec("callback-wait", 0, 0);
  rc_operation *op = NULL;
  int checked;
  g_callback_checked = 0;
  g_callback_op = NULL;
  g_callback_cluster = open_cluster(spec, on_event_waits, NULL);
  pthread_mutex_lock(&g_callback_mu);
  CHECK_OK(rc_cluster_up_async(&op, g_callback_cluster, NULL));
  g_callback_op = op;
  pthread_mutex_unlock(&g_callback_mu);
  CHECK_OK(rc_operation_wait(op, RC_WAIT_FOREVER));
  pthread_mutex_lock(&g_callback_mu);
  checked = g_callback_checked;
  pthread_mutex_unlock(&g_callback_mu);
  CHECK(checked == 1);
  rc_operation_free(g_callback_op);
  down_and_check_gone(g_callback_cluster);
  rc_cluster_free(g_callback_cluster);
  rc_spec_free(spec);
}


/* ---- autoscaling ------------------------------------------------------- */

static void test_autoscaler_null_and_garbage_arguments(void) {
  rc_spec *spec = shell_spec("asgarbage", 0, 0);
  rc_cluster *c = open_cluster(spec, NULL, NULL);
  rc_autoscaler *a = NULL;
  rc_autoscaler_options ao = RC_AUTOSCALER_OPTIONS_INIT;

  INVALID(rc_request_resources(NULL, "[]"));
  INVALID(rc_request_resources(c, NULL));
  INVALID(rc_request_resources(c, ""));
  INVALID(rc_request_resources(c, "not json"));
  INVALID(rc_request_resources(c, "{\"CPU\": 1}"));
  INVALID(rc_request_resources(c, "[1]"));
  INVALID(rc_request_resources(c, "[{\"CPU\": -1}]"));
  CHECK(strstr(rc_last_error()->message, "CPU") != NULL);
  INVALID(rc_request_resources(c, "[{\"CPU\": \"1\"}]"));
  INVALID(rc_request_resources(c, "[{\"CPU\": 1}, [2]]"));
  CHECK(strstr(rc_last_error()->message, "bundle 1") != NULL);

  INVALID(rc_autoscaler_start(NULL, c, NULL));
  INVALID(rc_autoscaler_start(&a, NULL, NULL));
  CHECK(a == NULL);
  ao.version = 0;
  INVALID(rc_autoscaler_start(&a, c, &ao));
  ao.version = 77;
  INVALID(rc_autoscaler_start(&a, c, &ao));
  ao.version = RC_AUTOSCALER_OPTIONS_VERSION;
  ao.interval_ms = -1;
  INVALID(rc_autoscaler_start(&a, c, &ao));
  CHECK(a == NULL);
  INVALID(rc_autoscaler_stop(NULL));
  rc_autoscaler_free(NULL);

  /* Start and stop without a head: ticks are skipped, stop is prompt. */
  ao.interval_ms = 100;
  CHECK_OK(rc_autoscaler_start(&a, c, &ao));
  CHECK(a != NULL);
  sleep_ms(150);
  CHECK_OK(rc_autoscaler_stop(a));
  CHECK_OK(rc_autoscaler_stop(a)); /* idempotent */
  rc_autoscaler_free(a);
  rc_cluster_free(c);
  rc_spec_free(spec);
}

static int read_file(const char *path, char *buf, size_t size) {
  FILE *f = fopen(path, "r");
  size_t n;
  if (!f) return -1;
  n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (int)n;
}

static void test_request_resources_persists(void) {
  rc_spec *spec = shell_spec("asrequest", 0, 0);
  rc_cluster *c = open_cluster(spec, NULL, NULL);
  char path[512], buf[4096];
  snprintf(path, sizeof path, "%s/asrequest/requested_resources.json", g_root);
  CHECK_OK(rc_request_resources(c, "[{\"CPU\": 1}, {\"GPU\": 0.5, \"CPU\": 2}]"));
  CHECK(read_file(path, buf, sizeof buf) > 0);
  CHECK(strstr(buf, "\"requests\"") != NULL);
  CHECK(count_substr(buf, "\"CPU\"") == 2);
  CHECK(strstr(buf, "\"GPU\": 0.5") != NULL);
  /* A new request replaces the old one; a rejected one changes nothing. */
  CHECK_OK(rc_request_resources(c, "[{\"CPU\": 3}]"));
  INVALID(rc_request_resources(c, "[{\"CPU\": -3}]"));
  CHECK(read_file(path, buf, sizeof buf) > 0);
  CHECK(count_substr(buf, "\"CPU\"") == 1 && strstr(buf, "GPU") == NULL);
  CHECK_OK(rc_request_resources(c, "[]"));
  CHECK(read_file(path, buf, sizeof buf) > 0);
  CHECK(strstr(buf, "CPU") == NULL);
  /* The command line's parser, word for word. */
  INVALID(rc_request_resources(c, "[{\"CPU\": -1}]"));
  CHECK(strcmp(rc_last_error()->message,
               "request_resources: bundle 0: \"CPU\" must be a finite number >= 0 "
               "and at most 1e18") == 0);
  /* Identical bundles are persisted as one shape with its count. */
  {
    const int n = 80000;
    const char *one = "{\"CPU\": 1},";
    size_t len = strlen(one);
    char *big = malloc((size_t)n * len + 3), *p = big;
    CHECK(big != NULL);
    *p++ = '[';
    for (int i = 0; i < n; ++i, p += len) memcpy(p, one, len);
    p[-1] = ']';
    *p = '\0';
    CHECK_OK(rc_request_resources(c, big));
    CHECK(read_file(path, buf, sizeof buf) > 0);
    CHECK(strlen(buf) < 200);
    CHECK(strstr(buf, "80000") != NULL);
    /* Past the input limit, the message names it. */
    big = realloc(big, (size_t)(1 << 20) + 2);
    CHECK(big != NULL);
    memset(big, ' ', (size_t)(1 << 20) + 1);
    big[0] = '[';
    big[1 << 20] = ']';
    big[(1 << 20) + 1] = '\0';
    INVALID(rc_request_resources(c, big));
    CHECK(strstr(rc_last_error()->message, "kMaxResourceRequestBytes") != NULL);
    free(big);
  }
  rc_cluster_free(c);
  rc_spec_free(spec);
}

/* Threads of this process now. */
static int thread_count(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

typedef struct as_events {
  pthread_mutex_t mu;
  int total, launch, concurrent, max_concurrent;
  rc_autoscaler *self;
} as_events;

static void on_autoscaler_event(const rc_event *e, void *user_data) {
  as_events *ev = (as_events *)user_data;
  CHECK(rc_event_kind_of(e) == RC_EVENT_LOG);
  CHECK(rc_event_message(e)[0] == '{');
  pthread_mutex_lock(&ev->mu);
  ev->total++;
  if (++ev->concurrent > ev->max_concurrent) ev->max_concurrent = ev->concurrent;
  if (strstr(rc_event_message(e), "\"event\":\"launch\"") ||
      strstr(rc_event_message(e), "\"event\": \"launch\""))
    ev->launch++;
  ev->concurrent--;
  pthread_mutex_unlock(&ev->mu);
  /* Inside, stop is refused rather than deadlocking. */
  {
    rc_autoscaler *self;
    pthread_mutex_lock(&ev->mu);
    self = ev->self;
    pthread_mutex_unlock(&ev->mu);
    if (self) INVALID(rc_autoscaler_stop(self));
  }
}

static void test_autoscaler_launches_on_request(void) {
  rc_spec *spec = shell_spec("asloop", 0, 0);
  as_events ev;
  rc_cluster *c = open_cluster(spec, NULL, NULL);
  rc_autoscaler *a = NULL;
  rc_autoscaler_options ao = RC_AUTOSCALER_OPTIONS_INIT;
  int heads = 0, workers = 0, launched = 0, threads_before;
  double t0;
  char id[64] = "";

  memset(&ev, 0, sizeof ev);
  pthread_mutex_init(&ev.mu, NULL);
  CHECK_OK(rc_cluster_up(c, NULL));
  node_counts(c, &heads, &workers, id, sizeof id);
  CHECK(heads == 1 && workers == 0);

  threads_before = thread_count();
  ao.interval_ms = 200;
  ao.on_event = on_autoscaler_event;
  ao.user_data = &ev;
  CHECK_OK(rc_autoscaler_start(&a, c, &ao));
  pthread_mutex_lock(&ev.mu);
  ev.self = a;
  pthread_mutex_unlock(&ev.mu);
  /* Two one-CPU bundles: more than the head's one CPU, so one worker. */
  CHECK_OK(rc_request_resources(c, "[{\"CPU\": 1}, {\"CPU\": 1}]"));
  t0 = now_s();
  while (now_s() - t0 < 60.0) { /* a hang guard: one tick launches it */
    node_counts(c, &heads, &workers, NULL, 0);
    if (workers >= 1) {
      launched = 1;
      break;
    }
    sleep_ms(100);
  }
  CHECK(launched);
  CHECK_OK(rc_request_resources(c, "[]"));
  sleep_ms(300);

  pthread_mutex_lock(&ev.mu);
  ev.self = NULL;
  pthread_mutex_unlock(&ev.mu);
  CHECK_OK(rc_autoscaler_stop(a));
  rc_autoscaler_free(a);
  CHECK(thread_count() == threads_before); /* the loop and setup threads are joined */
  pthread_mutex_lock(&ev.mu);
  CHECK(ev.total > 0);
  CHECK(ev.launch >= 1);
  CHECK(ev.max_concurrent == 1);
  pthread_mutex_unlock(&ev.mu);
  /* Nothing calls back after free: the counter stays put. */
  {
    int before;
    pthread_mutex_lock(&ev.mu);
    before = ev.total;
    pthread_mutex_unlock(&ev.mu);
    sleep_ms(500);
    pthread_mutex_lock(&ev.mu);
    CHECK(ev.total == before);
    pthread_mutex_unlock(&ev.mu);
  }
  down_and_check_gone(c);
  rc_cluster_free(c);
  rc_spec_free(spec);
  pthread_mutex_destroy(&ev.mu);
}

/* Freeing the cluster handle first is fine: the autoscaler keeps it alive. */
static void test_autoscaler_outlives_cluster_handle(void) {
  rc_spec *spec = shell_spec("asorder", 0, 0);
  rc_cluster *c = open_cluster(spec, NULL, NULL);
  rc_autoscaler *a = NULL;
  rc_autoscaler_options ao = RC_AUTOSCALER_OPTIONS_INIT;
  ao.interval_ms = 100;
  CHECK_OK(rc_autoscaler_start(&a, c, &ao));
  rc_cluster_free(c);
  sleep_ms(250);
  rc_autoscaler_free(a);
  rc_spec_free(spec);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;

static const test_case k_tests[] = {
    {"version", test_version},
    {"null_and_garbage_arguments", test_null_and_garbage_arguments},
    {"config_error_detail", test_config_error_detail},
    {"lifecycle_and_events", test_lifecycle_and_events},
    {"async_up_cancel_from_another_thread", test_async_up_cancel_from_another_thread},
    {"free_running_operation_cancels_and_joins", test_free_running_operation_cancels_and_joins},
    {"two_threads_two_clusters", test_two_threads_two_clusters},
    {"wait_inside_callback_is_refused", test_wait_inside_callback_is_refused},
    {"autoscaler_null_and_garbage_arguments", test_autoscaler_null_and_garbage_arguments},
    {"request_resources_persists", test_request_resources_persists},
    {"autoscaler_launches_on_request", test_autoscaler_launches_on_request},
    {"autoscaler_outlives_cluster_handle", test_autoscaler_outlives_cluster_handle},
};

int main(int argc, char **argv) {
  size_t i;
  int j, ran = 0;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_root, sizeof g_root, "%s/rc-capi-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_root)) {
    perror("mkdtemp");
    return 2;
  }
  for (i = 0; i < sizeof k_tests / sizeof k_tests[0]; i++) {
    int selected = argc < 2, before = g_failures;
    double t0;
    for (j = 1; j < argc; j++)
      if (strcmp(argv[j], k_tests[i].name) == 0) selected = 1;
    if (!selected) continue;
    t0 = now_s();
    /* A hang guard, not a time limit: SIGALRM ends the run (failed). */
    alarm(kHangGuardSeconds);
    k_tests[i].fn();
    alarm(0);
    ran++;
    printf("%s %s (%.1f s)\n", g_failures == before ? "PASS" : "FAIL", k_tests[i].name,
           now_s() - t0);
    fflush(stdout);
  }
  printf("%d test(s), %d failed check(s)\n", ran, (int)g_failures);
  if (g_failures == 0)
    nftw(g_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  else
    printf("state kept in %s\n", g_root);
  return g_failures == 0 && ran > 0 ? 0 : 1;
}
