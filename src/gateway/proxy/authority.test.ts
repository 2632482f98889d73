import { describe, expect, it } from 'vitest';
import { serviceFromAuthority } from './authority.js';

describe('serviceFromAuthority', () => {
  it.each([
    ['payments', 'payments'],
    ['payments:8080', 'payments'],
    ['payments.global', 'payments'],
    ['Payments.GLOBAL:443', 'payments'],
    ['payments.global.', 'payments'],
    ['payments.svc', 'payments.svc'],
  ])('%s names %s', (authority, service) => {
    expect(serviceFromAuthority(authority)).toBe(service);
  });

  it.each([[undefined], [''], [':80'], ['[::1]:80']])('%s names no service', (authority) => {
    expect(serviceFromAuthority(authority)).toBeUndefined();
  });
});
