// Lists native sources for binding.gyp (gyp has no glob): `node scripts/gyp-sources.cjs <set>`.
// Sets: core (runtime + plain CPU kernels + napi), avx2, avx512. Mirrors CMakeLists.txt (CPU only).
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
const list = (dir) => fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.cc')).map((f) => `${dir}/${f}`);
const set = process.argv[2];
let files;
if (set === 'avx2') files = list('native/cpu').filter((f) => f.endsWith('_avx2.cc'));
else if (set === 'avx512') files = list('native/cpu').filter((f) => f.endsWith('_avx512.cc'));
else files = [...list('native/runtime'), ...list('native/cpu').filter((f) => !/_avx(2|512)\.cc$/.test(f)), ...list('native/napi')];
process.stdout.write(files.join(' '));
