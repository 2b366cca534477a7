// Loaded into a raftkv node with `node --require` by `npm run bench:profile`: the first SIGUSR2
// starts V8's CPU profiler, the second stops it and writes the profile as
// $RAFTKV_PROFILE_DIR/<pid>.cpuprofile (the format Chrome's DevTools and speedscope open).
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const session = new inspector.Session();
session.connect();
let running = false;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('Profiler.enable', () => session.post('Profiler.start'));
    return;
  }
  running = false;
  session.post('Profiler.stop', (err, result) => {
    if (err) throw err;
    const dir = process.env.RAFTKV_PROFILE_DIR ?? '.';
    writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
