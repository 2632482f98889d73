import { describe, expect, it } from 'vitest';
import { ConfigError, isConfigError } from '../config/index.js';
import { IdentityError, isIdentityError } from '../identity/index.js';
import { asGatewayError, GatewayError, isGatewayError } from './errors.js';

describe('recognising each part\'s errors', () => {
  const gateway = new GatewayError('upstream-reset', 'reset', { endpoint: 'a' });
  const identity = new IdentityError('ca', 'bad', {});
  const config = new ConfigError('gw.yaml', [{ path: 'cluster', message: 'is required' }]);

  it('tells the parts apart: no part\'s error passes for another\'s', () => {
    expect([isGatewayError(gateway), isIdentityError(gateway), isConfigError(gateway)]).toEqual([true, false, false]);
    expect([isGatewayError(identity), isIdentityError(identity), isConfigError(identity)]).toEqual([false, true, false]);
    expect([isGatewayError(config), isIdentityError(config), isConfigError(config)]).toEqual([false, false, true]);
  });

  it('recognises a GatewayError from another copy of the module', () => {
    const fromCopy = Object.assign(new Error('x'), { code: 'overloaded', [Symbol.for('meshgate.gateway.error')]: true });
    expect(isGatewayError(fromCopy)).toBe(true);
    expect(asGatewayError(fromCopy)).toBe(fromCopy);
  });

  it('turns anything else into an unexpected reset, keeping the cause', () => {
    const err = asGatewayError(identity);
    expect(err.code).toBe('upstream-reset');
    expect(err.cause).toBe(identity);
  });
});
