import { parseArgs } from 'node:util';
import { createHttpFront } from './http-front.js';

/**
 * The front as a process of its own: `main.ts --path DIR [--port N]`. Prints one JSON line
 * `{"url": ...}` once it listens; stops gracefully on SIGTERM or SIGINT, and exits when its
 * parent goes away (its stdin closes), so a test that dies leaves no engine behind.
 */
const { values } = parseArgs({ options: { path: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.path) {
  process.stderr.write('usage: main.ts --path DIR [--port N]\n');
  process.exit(2);
}
const front = createHttpFront({ path: values.path, port: Number(values.port) });
const { url } = await front.start();
process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await front.stop();
  process.exit(code);
};
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.stdin.on('end', () => void stop(0));
process.stdin.resume();
