// Loaded with `node -r ./preload.js`: Portkey's server has no bind option and listens on all
// interfaces; the benchmark binds everything to loopback, so rewrite every listen() call that
// names no host (or a wildcard host) to 127.0.0.1.
'use strict';
const net = require('net');
const wildcard = new Set([undefined, null, '', '0.0.0.0', '::', '[::]']);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length > 0 && typeof args[0] === 'object' && args[0] !== null && !Array.isArray(args[0])) {
    // listen(options[, cb])
    if (args[0].path === undefined && wildcard.has(args[0].host)) {
      args[0] = { ...args[0], host: '127.0.0.1' };
    }
  } else if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    // listen(port[, host][, backlog][, cb])
    if (typeof args[1] !== 'string' || wildcard.has(args[1])) {
      const rest = typeof args[1] === 'string' ? args.slice(2) : args.slice(1);
      args = [args[0], '127.0.0.1', ...rest];
    }
  }
  return listen.apply(this, args);
};
