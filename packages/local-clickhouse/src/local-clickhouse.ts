import { type ChildProcess, spawn } from 'node:child_process';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface LocalClickHouseOptions {
  /** Data directory of the engine; kept across stop/start, as a server's disk is. */
  path: string;
  /** 0 (the default) lets the first start pick a free port; later starts reuse it. */
  port?: number;
  startTimeoutMs?: number;
}

/**
 * Embedded ClickHouse (chDB) behind an HTTP front (see http-front.ts), in a process of its own
 * so that it can be stopped, killed and restarted like a server while the processes that talk
 * to it over `CLICKHOUSE_URL` keep running, and so that several processes can share one store.
 * Test infrastructure: it listens on 127.0.0.1 only and has no authentication.
 */
export class LocalClickHouse {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private port: number;
  private output = '';

  constructor(private readonly options: LocalClickHouseOptions) {
    this.port = options.port ?? 0;
  }

  /** The URL for CLICKHOUSE_URL; known after the first start. */
  get url(): string {
    if (this.port === 0) throw new Error('LocalClickHouse has not started yet');
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The pid of the front's process while it runs (to watch its memory, say). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Its stderr, for a test's failure message. */
  get log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const self = fileURLToPath(import.meta.url);
    const entry = fileURLToPath(new URL(`./main${extname(self)}`, import.meta.url));
    // From sources (tests), through tsx, which the checkout's root resolves.
    const args = extname(self) === '.ts' ? ['--conditions=flowwatch-src', '--import', 'tsx', entry] : [entry];
    const child = spawn(process.execPath, [...args, '--path', this.options.path, '--port', String(this.port)], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    void this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    child.stderr?.on('data', (d) => {
      this.output = (this.output + String(d)).slice(-20_000);
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timeoutMs = this.options.startTimeoutMs ?? 60_000;
    const started = await Promise.race([
      new Promise<{ url: string } | undefined>((r) => {
        lines.once('line', (line) => r(JSON.parse(line) as { url: string }));
        lines.once('close', () => r(undefined));
      }),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref()),
    ]);
    if (!started) {
      child.kill('SIGKILL');
      throw new Error(`local ClickHouse did not start in ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
    }
    this.port = Number(new URL(started.url).port);
  }

  /** Stops gracefully (requests in flight finish), killing after `timeoutMs`. Idempotent. */
  async stop(timeoutMs = 20_000): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const code = await Promise.race([this.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref())]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      await this.exited;
    }
    this.child = undefined;
  }

  /** Kills the process with SIGKILL: a crash, whatever was in flight. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
    this.child = undefined;
  }
}
