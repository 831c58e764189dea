/**
 * Liveness of a link between two of our own nodes: a half-open TCP connection (the
 * peer's host vanished, a partition in which nothing comes back) looks alive for as
 * long as TCP's own timers say, up to hours. So each side writes an empty packet `[]`
 * when it has written nothing for a while, and fails a link on which nothing at all
 * has arrived for `monitor_timeout` plus half of it: "link timeout".
 *
 * Both sides tell their `monitor_timeout` in the greeting (`monitor_timeout=30`), so a
 * node keeps quiet links alive often enough for a peer with a shorter one. With T ours
 * and P the peer's, the check runs every min(T, P) / 4; a keepalive goes out after
 * P / 3 without writing; the link fails after 1.5 T without reading, so a silent
 * partition is noticed within 1.75 T on each side.
 *
 * Only flags are touched per read and write. A check that runs late (the event loop
 * was blocked) does not count as silence: data may be waiting to be read behind it.
 *
 * AEMP's kernel treats an empty packet as a keepalive and ignores it, so `[]` is safe
 * towards Perl too; towards Perl we rely on TCP keepalive as AEMP does (see Link).
 */
import { type Timer, timer } from "../kernel/timers.ts";

export interface LivenessEvents {
  /** Write an empty packet. */
  keepalive(): void;
  /** Nothing arrived for too long. */
  dead(): void;
}

export class Liveness {
  /** Set by the link whenever bytes arrive / leave; cleared by each check. */
  heard = false;
  spoke = false;
  private silentChecks = 0;
  private quietChecks = 0;
  private readonly everyMs: number;
  private readonly keepaliveAfter: number;
  private readonly deadAfter: number;
  private last = performance.now();
  private readonly ticker: Timer;

  /** `ours` and `theirs` are the two monitor_timeouts, in seconds. */
  constructor(ours: number, theirs: number, private readonly events: LivenessEvents) {
    // Never faster than 20 checks a second, whatever a peer announces.
    const every = Math.max(0.05, Math.min(ours, theirs) / 4);
    this.everyMs = every * 1000;
    this.keepaliveAfter = Math.max(1, Math.floor(theirs / 3 / every));
    this.deadAfter = Math.ceil((ours * 1.5) / every);
    this.ticker = timer(every, this.check, { repeat: true }).unref();
  }

  private readonly check = (): void => {
    const now = performance.now();
    const late = now - this.last > 2 * this.everyMs;
    this.last = now;
    if (this.heard || late) this.silentChecks = 0;
    else if (++this.silentChecks >= this.deadAfter) {
      this.stop();
      this.events.dead();
      return;
    }
    this.heard = false;
    if (this.spoke) this.quietChecks = 0;
    else if (++this.quietChecks >= this.keepaliveAfter) {
      this.quietChecks = 0;
      this.events.keepalive();
    }
    this.spoke = false;
  };

  stop(): void {
    this.ticker.cancel();
  }
}

/** The `monitor_timeout` a peer's greeting announces, if it is one of ours and says one. */
export function announcedTimeout(keys: Record<string, string>): number | undefined {
  const value = Number(keys.monitor_timeout);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}
