// The CommonJS entry of the package ("require" in package.json's exports). facestyle is an ES module:
// Node >= 20.19 (and 22.12) can require() it, older Node cannot, and then this says what to do instead of Node's
// "No exports main defined".
'use strict';
try {
  module.exports = require('../dist/index.js');
} catch (e) {
  if (e && e.code === 'ERR_REQUIRE_ESM') {
    const err = new Error(
      "facestyle is an ES module and this Node cannot require() it: use `import { stylizeFile } from 'facestyle'`, " +
        "or from CommonJS `const { stylizeFile } = await import('facestyle')` (Node >= 20.19 and >= 22.12 can also require() it)",
    );
    err.code = 'ERR_REQUIRE_ESM';
    err.cause = e;
    throw err;
  }
  throw e;
}
