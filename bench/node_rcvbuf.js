// Preload for Etsy StatsD's proxy.js (`node -r THIS proxy.js CONFIG`), which has
// no option for its UDP receive buffer. When BENCH_RCVBUF is a positive byte
// count, every dgram socket is created with that recvBufferSize, which Node
// applies as SO_RCVBUF once the socket is bound. Cluster workers inherit the
// preload through process.execArgv, and they set the option on the socket they
// share with the primary process.
'use strict';

const dgram = require('dgram');

const size = parseInt(process.env.BENCH_RCVBUF || '0', 10);
const createSocket = dgram.createSocket;

if (size > 0) {
  dgram.createSocket = function (type, listener) {
    const options = typeof type === 'string' ? { type: type } : Object.assign({}, type);
    options.recvBufferSize = size;
    return createSocket.call(this, options, listener);
  };
}
