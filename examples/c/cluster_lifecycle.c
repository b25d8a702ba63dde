/* raycluster from C: load a config, open the cluster, bring it up while
 * printing its events, show its status, scale it to two workers, take it down.
 *
 *   cc cluster_lifecycle.c $(pkg-config --cflags --libs raycluster)
 *   PATH=$PWD/.venv/bin:$PATH ./a.out examples/c/cluster.yaml
 *
 * The state folder is $RAYCLUSTER_HOME (default ~/.raycluster). */
#include <stdio.h>

#include "raycluster/raycluster.h"

/* Called on the operation's event thread; the event is valid only here. */
static void print_event(const rc_event *ev, void *user_data) {
  int done = 0, total = 0;
  (void)user_data;
  switch (rc_event_kind_of(ev)) {
    case RC_EVENT_NODE_STATUS:
      printf("[%s] %s\n", rc_event_node_id(ev), rc_event_status(ev));
      break;
    case RC_EVENT_PROGRESS:
      rc_event_progress(ev, &done, &total);
      printf("progress %d/%d: %s\n", done, total, rc_event_message(ev));
      break;
    case RC_EVENT_LOG:
      if (rc_event_level(ev) >= RC_LOG_INFO)
        printf("%s%s%s\n", rc_event_node_id(ev), *rc_event_node_id(ev) ? ": " : "",
               rc_event_message(ev));
      break;
  }
  fflush(stdout);
}

static int fail(const char *what) {
  const rc_error *e = rc_last_error();
  if (e->code == RC_E_CONFIG && e->line > 0)
    fprintf(stderr, "%s: %s:%d:%d: %s\n", what, e->file, e->line, e->column, e->message);
  else
    fprintf(stderr, "%s failed (%s): %s\n", what, e->category, e->message);
  return 1;
}

int main(int argc, char **argv) {
  rc_spec *spec = NULL;
  rc_cluster *cluster = NULL;
  rc_cluster_options options = RC_CLUSTER_OPTIONS_INIT;
  rc_scale_options scale = RC_SCALE_OPTIONS_INIT;
  char *status = NULL;
  int rc = 1;

  if (argc != 2) {
    fprintf(stderr, "usage: %s CLUSTER.yaml\n", argv[0]);
    return 2;
  }
  printf("raycluster %s (ABI %d)\n", rc_version(), rc_abi_version());
  if (rc_spec_load_file(&spec, argv[1]) != RC_OK) return fail("load");

  options.on_event = print_event;
  options.min_log_level = RC_LOG_INFO;
  if (rc_cluster_open(&cluster, spec, &options) != RC_OK) {
    rc = fail("open");
    goto out;
  }
  if (rc_cluster_up(cluster, NULL) != RC_OK) {
    rc = fail("up");
    goto down;
  }
  if (rc_cluster_status(&status, cluster) != RC_OK) {
    rc = fail("status");
    goto down;
  }
  printf("status: %s\n", status);
  rc_string_free(status);

  scale.workers = 2;
  if (rc_cluster_scale(cluster, &scale) != RC_OK) {
    rc = fail("scale");
    goto down;
  }
  if (rc_cluster_worker_ips(&status, cluster) == RC_OK) {
    printf("workers: %s\n", status);
    rc_string_free(status);
  }
  rc = 0;

down:  /* also after a failure: leave nothing behind */
  if (rc_cluster_down(cluster, NULL) != RC_OK) rc = fail("down");
out:
  rc_cluster_free(cluster);
  rc_spec_free(spec);
  return rc;
}
