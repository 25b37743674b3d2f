// A TCP relay between a CLI and the gateway that writes down every HTTP request the CLI makes
// and the status it got, one line each: "POST /v1/messages?beta=true -> 200 OK".
// The gateway's access log has these lines too, among everything else; this is the CLI's own
// side of the wire (probes such as HEAD /api/hello or GET /v1/models included), in its order.
//   node record_relay.mjs TARGET_PORT LOG_FILE
// Prints "record relay listening on 127.0.0.1:PORT" once listening.
import net from 'node:net';
import { appendFileSync } from 'node:fs';

const [targetPort, logFile] = process.argv.slice(2);

// Splits one direction of an HTTP/1.1 connection into messages and calls onHead(firstLine)
// for each message head. Bodies are skipped by content-length or chunked framing; a
// response to HEAD (or a 1xx/204/304) has none; a response with neither runs to the close.
function messageScanner(onHead, isResponse, lastRequestWasHead) {
  let buf = Buffer.alloc(0);
  let state = 'head';
  let remaining = 0; // body bytes left ('body') or chunk bytes left ('chunk-data')
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (state === 'head') {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        buf = buf.subarray(end + 4);
        const headers = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        onHead(lines[0]);
        const status = isResponse ? Number(lines[0].split(' ')[1]) : 0;
        if (isResponse && (status < 200 || status === 204 || status === 304 || lastRequestWasHead())) {
          state = 'head';
        } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
          state = 'chunk-size';
        } else if (headers['content-length'] !== undefined) {
          remaining = Number(headers['content-length']);
          state = 'body';
        } else {
          state = isResponse ? 'to-close' : 'head';
        }
      } else if (state === 'body') {
        const take = Math.min(remaining, buf.length);
        buf = buf.subarray(take);
        remaining -= take;
        if (remaining > 0) return;
        state = 'head';
      } else if (state === 'chunk-size') {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        remaining = parseInt(buf.subarray(0, end).toString('latin1'), 16);
        buf = buf.subarray(end + 2);
        state = remaining === 0 ? 'trailer' : 'chunk-data';
      } else if (state === 'chunk-data') {
        if (buf.length < remaining + 2) return;
        buf = buf.subarray(remaining + 2);
        state = 'chunk-size';
      } else if (state === 'trailer') {
        const end = buf.indexOf('\r\n');
        if (end < 0) return;
        buf = buf.subarray(end + 2);
        if (end === 0) state = 'head';
      } else {
        buf = Buffer.alloc(0); // to-close
        return;
      }
    }
  };
}

let connections = 0;
const server = net.createServer((client) => {
  const id = ++connections;
  const waiting = []; // request lines still without a status line, in order
  const log = (text) => appendFileSync(logFile, `${text}\n`);
  const upstream = net.connect(Number(targetPort), '127.0.0.1');
  let answeringHead = false; // is the response being read the answer to a HEAD?
  const fromClient = messageScanner((line) => {
    waiting.push(line.replace(/ HTTP\/1\.[01]$/, ''));
  }, false, () => false);
  const fromGateway = messageScanner((line) => {
    const status = line.replace(/^HTTP\/1\.[01] /, '');
    if (status.startsWith('1')) return;
    answeringHead = (waiting[0] ?? '').startsWith('HEAD ');
    log(`${waiting.shift() ?? '(unknown request)'} -> ${status}  [connection ${id}]`);
  }, true, () => answeringHead);
  client.on('data', (chunk) => { fromClient(chunk); upstream.write(chunk); });
  upstream.on('data', (chunk) => { fromGateway(chunk); client.write(chunk); });
  const finish = () => {
    while (waiting.length) log(`${waiting.shift()} -> (no response: connection closed)  [connection ${id}]`);
  };
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.on('close', () => { finish(); upstream.destroy(); });
  upstream.on('close', () => { finish(); client.destroy(); });
  client.on('error', () => upstream.destroy());
  upstream.on('error', (err) => { log(`(relay: gateway connection error ${err.code})  [connection ${id}]`); client.destroy(); });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`record relay listening on 127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => process.exit(0));
