import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from 'pino';

export interface UdpListenerOptions {
  host: string;
  port: number;
  receiveBufferBytes: number;
  onDatagram: (buf: Buffer, rinfo: RemoteInfo) => void;
  logger: Logger;
}

/**
 * One UDP socket. The receive buffer is raised as far as the kernel allows (net.core.rmem_max
 * caps it; the effective size is logged so an operator can raise the sysctl).
 */
export class UdpListener {
  private socket: Socket | undefined;
  boundPort = 0;

  constructor(private readonly options: UdpListenerOptions) {}

  async start(): Promise<void> {
    const { host, port, logger } = this.options;
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const socket = createSocket({ type, reuseAddr: false, recvBufferSize: this.options.receiveBufferBytes });
    socket.on('message', this.options.onDatagram);
    socket.on('error', (err) => logger.error({ err: err.message, port }, 'udp socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(this.options.receiveBufferBytes);
    } catch {
      // the kernel's cap applies; the effective size is logged below
    }
    this.socket = socket;
    this.boundPort = socket.address().port;
    const effective = socket.getRecvBufferSize();
    const log = effective < this.options.receiveBufferBytes ? logger.warn.bind(logger) : logger.info.bind(logger);
    log(
      { host, port: this.boundPort, receiveBufferBytes: effective, asked: this.options.receiveBufferBytes },
      effective < this.options.receiveBufferBytes ? 'udp receive buffer capped by net.core.rmem_max' : 'udp listener bound',
    );
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((r) => socket.close(() => r()));
  }
}
