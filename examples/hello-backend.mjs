// A sample backend for the quick start: answers on each address given.
import http from 'node:http';

const addresses = process.argv.slice(2);
if (addresses.length === 0) {
  console.error('usage: node examples/hello-backend.mjs HOST:PORT [HOST:PORT ...]');
  process.exit(2);
}
for (const address of addresses) {
  const i = address.lastIndexOf(':');
  const [host, port] = [address.slice(0, i), Number(address.slice(i + 1))];
  http
    .createServer((req, res) => {
      if (req.url === '/healthz') return res.end('ok\n');
      res.setHeader('content-type', 'text/plain');
      res.end(`hello from ${address}: ${req.method} ${req.url}\n`);
    })
    .on('error', (err) => {
      console.error(`hello-backend: cannot listen on ${address}: ${err.code}`);
      process.exit(1);
    })
    .listen(port, host, () => console.log(JSON.stringify({ msg: 'hello-backend listening', address })));
}
