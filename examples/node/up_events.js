// The IDE-plugin case: Node.js drives raycluster through its C ABI (koffi),
// starts an asynchronous `up`, receives its events through a callback while
// its own event loop keeps ticking, then takes the cluster down.
//
//   cd examples/node && npm ci
//   PATH=$PWD/../../.venv/bin:$PATH RAYCLUSTER_LIBRARY=../../build/capi/libraycluster.so \
//       node up_events.js ../c/cluster.yaml [--cancel-after-ms N]
//
// How it avoids blocking: the library calls the callback on the operation's
// own event thread; koffi queues that call onto the JS main thread (the C
// thread waits meanwhile), and completion is polled from a timer with
// rc_operation_poll, which never blocks. Never call rc_operation_wait with a
// timeout, or rc_operation_free on a running operation, from the main
// thread: the callback could then never run (deadlock).
'use strict';

const koffi = require('koffi');
const path = require('path');

const libPath = process.env.RAYCLUSTER_LIBRARY ||
    path.join(__dirname, '..', '..', 'build', 'capi', 'libraycluster.so');
const lib = koffi.load(libPath);

// The subset of raycluster.h this example needs.
const rc_spec = koffi.opaque('rc_spec');
const rc_cluster = koffi.opaque('rc_cluster');
const rc_operation = koffi.opaque('rc_operation');
const rc_event = koffi.opaque('rc_event');
const rc_error = koffi.struct('rc_error', {
  code: 'int', category: 'const char *', message: 'const char *', request_id: 'const char *',
  retryable: 'int', file: 'const char *', line: 'int', column: 'int', key: 'const char *',
});
const rc_event_callback = koffi.proto('void rc_event_callback(const rc_event *event, void *user_data)');
const rc_up_options = koffi.struct('rc_up_options', {
  version: 'int', force_setup: 'int', on_event: koffi.pointer(rc_event_callback), user_data: 'void *',
});
const rc_down_options = koffi.struct('rc_down_options', {
  version: 'int', workers_only: 'int', keep_min_workers: 'int',
  on_event: koffi.pointer(rc_event_callback), user_data: 'void *',
});

const RC_OK = 0, RC_E_CANCELLED = -4;
const EVENT_KIND = {1: 'node_status', 2: 'progress', 3: 'log'};

const rc = {
  version: lib.func('const char *rc_version(void)'),
  last_error: lib.func('const rc_error *rc_last_error(void)'),
  spec_load_file: lib.func('int rc_spec_load_file(_Out_ rc_spec **out, const char *path)'),
  spec_free: lib.func('void rc_spec_free(rc_spec *spec)'),
  cluster_open: lib.func('int rc_cluster_open(_Out_ rc_cluster **out, const rc_spec *spec, const void *options)'),
  cluster_free: lib.func('void rc_cluster_free(rc_cluster *c)'),
  cluster_status: lib.func('int rc_cluster_status(_Out_ void **out, rc_cluster *c)'),
  string_free: lib.func('void rc_string_free(void *s)'),
  up_async: lib.func('int rc_cluster_up_async(_Out_ rc_operation **out, rc_cluster *c, const rc_up_options *o)'),
  down_async: lib.func('int rc_cluster_down_async(_Out_ rc_operation **out, rc_cluster *c, const rc_down_options *o)'),
  op_poll: lib.func('int rc_operation_poll(const rc_operation *op, _Out_ int *done)'),
  op_cancel: lib.func('int rc_operation_cancel(rc_operation *op)'),
  op_result: lib.func('int rc_operation_result(const rc_operation *op)'),
  op_free: lib.func('void rc_operation_free(rc_operation *op)'),
  ev_kind: lib.func('int rc_event_kind_of(const rc_event *e)'),
  ev_node: lib.func('const char *rc_event_node_id(const rc_event *e)'),
  ev_status: lib.func('const char *rc_event_status(const rc_event *e)'),
  ev_message: lib.func('const char *rc_event_message(const rc_event *e)'),
  ev_progress: lib.func('int rc_event_progress(const rc_event *e, _Out_ int *done, _Out_ int *total)'),
};

function lastError() {
  return koffi.decode(rc.last_error(), rc_error);
}

function check(status, what) {
  if (status !== RC_OK) {
    const e = lastError();
    throw new Error(`${what} failed (${e.category}): ${e.message}`);
  }
}

function takeString(ptr) {
  const s = koffi.decode(ptr, 'char', -1);
  rc.string_free(ptr);
  return s;
}

// Event-loop health: a 10 ms timer counts its ticks (did the loop keep
// running?) and keeps the largest gap between two ticks (how smoothly?).
let ticks = 0;
let lastTick = process.hrtime.bigint();
let maxGapMs = 0;
const ticker = setInterval(() => {
  const now = process.hrtime.bigint();
  const gap = Number(now - lastTick) / 1e6;
  if (gap > maxGapMs && process.env.RC_DEBUG_GAPS) console.log(`gap ${gap.toFixed(1)} ms`);
  maxGapMs = Math.max(maxGapMs, gap);
  lastTick = now;
  ticks++;
}, 10);

// Runs one operation to its end without blocking; resolves to its status.
// `order` records what happened when, in timer ticks: whether the start
// call returned before the first event arrived, and the tick count at the
// first and the last event.
function run(start, options, label) {
  const counts = {node_status: 0, progress: 0, log: 0};
  const order = {returned: false, eventBeforeReturn: false, firstEventTick: -1, lastEventTick: -1};
  // The event is valid only during this call: copy what we keep.
  const onEvent = koffi.register((ev, _user) => {
    if (!order.returned) order.eventBeforeReturn = true;
    if (order.firstEventTick < 0) order.firstEventTick = ticks;
    order.lastEventTick = ticks;
    const kind = EVENT_KIND[rc.ev_kind(ev)] || 'unknown';
    counts[kind] = (counts[kind] || 0) + 1;
    const node = rc.ev_node(ev);
    if (kind === 'node_status') {
      console.log(`[${label}] ${node}: ${rc.ev_status(ev)}`);
    } else if (kind === 'progress') {
      const done = [0], total = [0];
      rc.ev_progress(ev, done, total);
      console.log(`[${label}] progress ${done[0]}/${total[0]}: ${rc.ev_message(ev)}`);
    } else if (!rc.ev_message(ev).startsWith(' ')) {
      console.log(`[${label}] ${node ? node + ': ' : ''}${rc.ev_message(ev)}`);
    }
  }, koffi.pointer(rc_event_callback));
  const op = [null];
  const startTick = ticks;
  check(start(op, { ...options, on_event: onEvent, user_data: null }), label);
  order.returned = true;
  return {
    op: op[0],
    counts,
    order,
    startTick,
    done: new Promise((resolve) => {
      const poll = setInterval(() => {
        const done = [0];
        check(rc.op_poll(op[0], done), 'poll');
        if (!done[0]) return;
        clearInterval(poll);
        const status = rc.op_result(op[0]);
        const err = lastError();
        const detail = status === RC_OK ? 'ok' : `${err.category}: ${err.message}`;
        rc.op_free(op[0]);  // ended: returns at once
        koffi.unregister(onEvent);
        resolve({status, detail, ticks: ticks - startTick});
      }, 20);
    }),
  };
}

async function main() {
  const args = process.argv.slice(2);
  const config = args[0];
  const cancelAt = args.indexOf('--cancel-after-ms');
  const cancelAfterMs = cancelAt >= 0 ? Number(args[cancelAt + 1]) : -1;
  console.log(`raycluster ${rc.version()} from ${libPath}`);

  const spec = [null];
  check(rc.spec_load_file(spec, config), 'load');
  const cluster = [null];
  check(rc.cluster_open(cluster, spec[0], null), 'open');
  rc.spec_free(spec[0]);
  const c = cluster[0];

  const t0 = Date.now();
  const up = run((out, o) => rc.up_async(out, c, o), {version: 1, force_setup: 0}, 'up');
  console.log(`up started in ${Date.now() - t0} ms; the event loop keeps running`);
  if (cancelAfterMs >= 0) {
    setTimeout(() => {
      console.log(`cancelling the up after ${cancelAfterMs} ms`);
      check(rc.op_cancel(up.op), 'cancel');
    }, cancelAfterMs);
  }
  const upResult = await up.done;
  const upGap = maxGapMs;
  maxGapMs = 0;
  console.log(`up ended: ${upResult.detail} after ${((Date.now() - t0) / 1000).toFixed(1)} s; ` +
              `events: ${JSON.stringify(up.counts)}`);

  const st = [null];
  check(rc.cluster_status(st, c), 'status');
  const status = JSON.parse(takeString(st[0]));
  console.log(`nodes: ${status.nodes.map((n) => `${n.kind} ${n.internal_ip} ${n.status}`).join(', ')}`);

  const down = run((out, o) => rc.down_async(out, c, o),
                   {version: 1, workers_only: 0, keep_min_workers: 0}, 'down');
  const downResult = await down.done;
  const downGap = maxGapMs;
  console.log(`down ended: ${downResult.detail}`);
  rc.cluster_free(c);
  clearInterval(ticker);

  const upOk = upResult.status === RC_OK || (cancelAfterMs >= 0 && upResult.status === RC_E_CANCELLED);
  const events = up.counts.node_status + up.counts.progress + up.counts.log;
  // The behaviour: the start call returned before any event came, and the
  // timer kept ticking while the operation ran and its events came in (a
  // blocked loop would not tick at all until the operation ended).
  for (const [label, r, result] of [['up', up, upResult], ['down', down, downResult]]) {
    console.log(`${label} returned before its first event: ${r.order.eventBeforeReturn ? 'no' : 'yes'}`);
    console.log(`timer ticks during ${label}: ${result.ticks}, between its first and last event: ` +
                `${Math.max(0, r.order.lastEventTick - r.order.firstEventTick)}`);
  }
  // How smoothly (a figure, machine-dependent: bench/node_event_loop_bench.py).
  console.log(`max event-loop gap during up: ${upGap.toFixed(1)} ms`);
  console.log(`max event-loop gap during down: ${downGap.toFixed(1)} ms`);
  console.log(`events received during up: ${events}`);
  process.exitCode = upOk && downResult.status === RC_OK && events > 0 ? 0 : 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
