import { describe, expect, it } from 'vitest';
import { IdentityError, isIdentityError, SpiffeIdError } from './errors.js';

describe('isIdentityError', () => {
  it('recognises the part\'s errors, optionally by code', () => {
    const err = new SpiffeIdError('scheme', 'http://x', 'must start with "spiffe://"');
    expect(isIdentityError(err)).toBe(true);
    expect(isIdentityError(err, 'spiffe-id')).toBe(true);
    expect(isIdentityError(err, 'bundle')).toBe(false);
  });

  it('holds for an error made by another copy of this module (the brand is Symbol.for, not a class)', () => {
    const fromCopy = Object.assign(new Error('x'), { code: 'ca', context: {}, [Symbol.for('meshgate.identity.error')]: true });
    expect(isIdentityError(fromCopy, 'ca')).toBe(true);
  });

  it('is false for other errors, even ones with a code and a context like a GatewayError', () => {
    expect(isIdentityError(Object.assign(new Error('x'), { code: 'upstream-reset', context: {} }))).toBe(false);
    expect(isIdentityError(new Error('x'))).toBe(false);
    for (const value of [undefined, null, 'spiffe-id', 42]) expect(isIdentityError(value)).toBe(false);
    expect(isIdentityError(new IdentityError('ca', 'x'))).toBe(true);
  });
});
