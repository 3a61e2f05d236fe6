import { describe, expect, it } from 'vitest';

function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a synchronous test's work
  }
}

describe('the test set-up', () => {
  let turned = false;

  it('schedules work for the next turn of the event loop, then keeps it busy', () => {
    setImmediate(() => {
      turned = true;
    });
    busy(20);
  });

  it('lets the event loop turn between synchronous tests (the worker answers the main process)', () => {
    expect(turned).toBe(true);
  });
});
