// A bounded async FIFO joining two pipeline stages. The producer awaits push() when the queue is full,
// so a fast stage (decode) cannot run ahead of a slow one (stylize) and memory stays flat however long
// the video is. fail() wakes everyone with the error so one failing stage stops the whole pipeline.

export class BoundedQueue<T> implements AsyncIterable<T> {
  readonly capacity: number;
  private readonly items: T[] = [];
  private closed = false;
  private error: unknown = undefined;
  private failed = false;
  /** Resolvers of consumers waiting for an item, and of producers waiting for room. */
  private takers: Array<() => void> = [];
  private pushers: Array<() => void> = [];

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.items.length;
  }

  /** Adds an item, waiting while the queue is full. Rejects once the queue has failed. */
  async push(item: T): Promise<void> {
    while (!this.failed && !this.closed && this.items.length >= this.capacity) {
      await new Promise<void>((resolve) => this.pushers.push(resolve));
    }
    if (this.failed) throw this.error;
    if (this.closed) throw new Error('push() after close()');
    this.items.push(item);
    this.wake('takers');
  }

  /** No more items will come; consumers drain what is left and then end. */
  close(): void {
    this.closed = true;
    this.wake('takers');
    this.wake('pushers');
  }

  /** Stops the queue with an error: pending and future push()/shift() reject with it. */
  fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = error;
    this.items.length = 0;
    this.wake('takers');
    this.wake('pushers');
  }

  /** Next item, or `done` once the queue is closed and empty. */
  async shift(): Promise<IteratorResult<T, undefined>> {
    while (!this.failed && this.items.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => this.takers.push(resolve));
    }
    if (this.failed) throw this.error;
    if (this.items.length === 0) return { done: true, value: undefined };
    const value = this.items.shift() as T;
    this.wake('pushers');
    return { done: false, value };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = await this.shift();
      if (next.done) return;
      yield next.value;
    }
  }

  private wake(which: 'takers' | 'pushers'): void {
    const waiting = this[which];
    this[which] = [];
    for (const resolve of waiting) resolve();
  }
}
