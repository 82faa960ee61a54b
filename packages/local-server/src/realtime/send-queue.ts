/** What the hub needs of a WebSocket: Deno's, the `ws` package's and a test double all fit. */
export interface RealtimeSocket {
  send(data: string | Uint8Array): void;
  close(code: number, reason: string): void;
  /** Bytes queued by the runtime but not yet on the wire, if the runtime says. */
  readonly bufferedAmount?: number;
}

export interface SendQueueOptions {
  /** Frames held back while the socket's own buffer is full; beyond this the client is too slow. */
  maxFrames: number;
  /** The socket's bufferedAmount above which frames wait here instead. */
  highWaterBytes: number;
  /**
   * Bytes held back (about: a text frame counts its length); beyond this the client is too slow.
   * Without it `maxFrames` frames of a client's largest broadcast could be held per slow socket.
   */
  maxQueuedBytes?: number;
  /** Retry interval while frames wait. */
  retryMs: number;
}

/**
 * A bounded per-socket send queue: frames go straight to the socket while its buffer is below the
 * high-water mark and wait here otherwise. A client that falls `maxFrames` behind is cut off
 * (`onOverflow`) rather than letting the server's memory grow without bound.
 */
export class SendQueue {
  private readonly frames: (string | Uint8Array)[] = [];
  private queuedBytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly socket: RealtimeSocket,
    private readonly options: SendQueueOptions,
    private readonly onOverflow: () => void,
  ) {}

  get length(): number {
    return this.frames.length;
  }

  push(frame: string | Uint8Array): void {
    if (this.stopped) return;
    if (this.frames.length === 0 && this.hasRoom()) {
      this.write(frame);
      return;
    }
    this.frames.push(frame);
    this.queuedBytes += sizeOf(frame);
    if (this.frames.length > this.options.maxFrames || this.queuedBytes > (this.options.maxQueuedBytes ?? Infinity)) {
      this.stop();
      this.onOverflow();
      return;
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.frames.length = 0;
    this.queuedBytes = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private hasRoom(): boolean {
    return (this.socket.bufferedAmount ?? 0) < this.options.highWaterBytes;
  }

  private write(frame: string | Uint8Array): void {
    try {
      this.socket.send(frame);
    } catch {
      // The socket is closing; its close handler cleans up.
      this.stop();
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      while (!this.stopped && this.frames.length > 0 && this.hasRoom()) {
        const frame = this.frames.shift()!;
        this.queuedBytes -= sizeOf(frame);
        this.write(frame);
      }
      if (this.frames.length > 0) this.schedule();
    }, this.options.retryMs);
  }
}

function sizeOf(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? frame.length : frame.byteLength;
}
