import { describe, expect, it } from 'vitest';
import {
  assertToken,
  formatMemberId,
  gossipSubject,
  InvalidTokenError,
  isValidMemberId,
  isValidToken,
  memberSubject,
  parseMemberId,
} from './subjects.js';

describe('subjects', () => {
  it('names the broadcast subject of a federation', () => {
    expect(gossipSubject('acme')).toBe('meshgate.acme.gossip');
  });

  it('puts a member id into its subject as two tokens', () => {
    expect(memberSubject('acme', 'us-east.gw-0')).toBe('meshgate.acme.member.us-east.gw-0');
  });

  it('keeps the broadcast subject and member subjects apart for any valid names', () => {
    // 3 tokens vs 5: no member name can make its subject equal the broadcast one.
    expect(gossipSubject('acme').split('.')).toHaveLength(3);
    expect(memberSubject('acme', 'gossip.gossip').split('.')).toHaveLength(5);
  });

  it.each(['', 'a.b', 'a*', '>', 'a b', 'a\tb', 'ü', '$SYS', 'a/b'])('refuses %j as a federation', (bad) => {
    expect(() => gossipSubject(bad)).toThrow(InvalidTokenError);
    expect(() => memberSubject(bad, 'a.b')).toThrow(InvalidTokenError);
  });

  it.each(['a', 'a.b.c', '.b', 'a.', 'a..b', 'a.*', 'a.>', '*.b', 'a b.c', 'a.b ', ''])('refuses %j as a member id', (bad) => {
    expect(() => memberSubject('acme', bad)).toThrow(InvalidTokenError);
    expect(isValidMemberId(bad)).toBe(false);
  });

  it('refuses what is not a string', () => {
    expect(() => parseMemberId(42)).toThrow(/invalid member id number: not a string/);
    expect(() => assertToken(undefined, 'federation')).toThrow(/invalid federation undefined/);
    expect(isValidToken(null)).toBe(false);
  });

  it('says which name was wrong and why', () => {
    const err = (() => {
      try {
        memberSubject('acme', 'us-east.gw.0');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidTokenError);
    expect(err).toMatchObject({ what: 'member id', value: 'us-east.gw.0' });
    expect(String(err)).toContain('<cluster>.<replica>');
  });

  it('parses and formats member ids', () => {
    expect(parseMemberId('eu-west.replica_1')).toEqual({ cluster: 'eu-west', replica: 'replica_1' });
    expect(formatMemberId('eu-west', 'replica_1')).toBe('eu-west.replica_1');
    expect(() => formatMemberId('eu.west', 'r')).toThrow(/invalid cluster/);
    expect(() => formatMemberId('eu', 'r.1')).toThrow(/invalid replica/);
    expect(isValidMemberId('A-b_9.Z')).toBe(true);
  });

  it('accepts the names config accepts (letters, digits, "-" and "_", any length)', () => {
    const long = 'x'.repeat(200);
    expect(isValidToken(long)).toBe(true);
    expect(memberSubject('fed_1', `${long}.r`)).toBe(`meshgate.fed_1.member.${long}.r`);
  });

  it('keeps error messages short for huge hostile values', () => {
    expect(() => parseMemberId('*'.repeat(10_000))).toThrow(/^invalid member id "\*{80}…"/);
  });
});
