/** What the runner plays on the simulated instances (crunch-run, EC2 reclaiming spot): a look at them every `pollMs` until stopped. */
export abstract class InstanceWatcher {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pollMs = 200) {}

  start(): void {
    this.timer ??= setInterval(() => this.step(), this.pollMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at every instance; public so a test can drive it without timers. */
  abstract step(now?: number): void;
}
