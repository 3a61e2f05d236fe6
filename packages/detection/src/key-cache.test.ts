import { describe, expect, it } from 'vitest';
import { KeyCache } from './key-cache.js';

describe('KeyCache', () => {
  it('joins two strings and hands out the same string again', () => {
    const keys = new KeyCache('/');
    const a = keys.key('supplier-b', `core-${1}`);
    expect(a).toBe('supplier-b/core-1');
    expect(keys.key(`supplier-${'b'}`, 'core-1')).toBe(a);
    expect(keys.key('supplier-b', 'core-2')).toBe('supplier-b/core-2');
    expect(keys.key('', '')).toBe('/');
  });

  it('stays correct past its bound', () => {
    const keys = new KeyCache('>', 3);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 4; j++) seen.push(keys.key(`A${i}`, `B${j}`));
    expect(seen).toEqual(Array.from({ length: 40 }, (_, n) => `A${Math.floor(n / 4)}>B${n % 4}`));
  });
});
