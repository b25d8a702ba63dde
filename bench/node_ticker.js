// A control for the Node example's event-loop measurement (node_event_loop_bench.py): a Node process
// that only ticks a 10 ms timer. What it sees while Ray starts on the same
// machine is the noise floor the example's gaps are compared with.
'use strict';
let last = process.hrtime.bigint();
let max = 0;
setInterval(() => {
  const now = process.hrtime.bigint();
  max = Math.max(max, Number(now - last) / 1e6);
  last = now;
}, 10);
process.on('SIGTERM', () => {
  console.log(`control max gap: ${max.toFixed(1)} ms`);
  process.exit(0);
});
