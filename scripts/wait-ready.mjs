// Waits until a URL answers 200, printing progress; exits 1 at the deadline.
const [url, timeoutArg = '15000'] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg);
let lastError = 'no answer yet';
process.stdout.write(`==> waiting for ${url} `);
while (Date.now() < deadline) {
  try {
    const res = await fetch(url);
    if (res.status === 200) {
      process.stdout.write(' ready\n');
      process.exit(0);
    }
    lastError = `status ${res.status}`;
  } catch (err) {
    lastError = err.cause?.code ?? err.message;
  }
  process.stdout.write('.');
  await new Promise((r) => setTimeout(r, 250));
}
process.stdout.write('\n');
console.error(`error: ${url} not ready after ${timeoutArg} ms (${lastError})`);
process.exit(1);
