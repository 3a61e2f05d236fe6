import { afterEach } from 'vitest';

/**
 * Vitest runs synchronous tests back to back in one chain of promises: the worker's event loop
 * does not turn between them, so a file of synchronous tests blocks it for the whole file. The
 * worker's calls to the main process (`onTaskUpdate`) time out after 60 s of that, which fails
 * the run with an unhandled error although every test passed (CI of b42aade: the volume
 * detector's tests, 35 s alone, over 60 s on a loaded machine). One turn of the loop after each
 * test bounds the block to the longest single test.
 */
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
