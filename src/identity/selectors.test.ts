import { describe, expect, it } from 'vitest';
import { compileEntries, matchingSpiffeIds, parseSelector, SelectorError, selectorMatches } from './selectors.js';

describe('parseSelector', () => {
  it('parses uid, gid and path selectors', () => {
    expect(parseSelector('unix:uid:0')).toEqual({ kind: 'uid', uid: 0 });
    expect(parseSelector('unix:uid:1000')).toEqual({ kind: 'uid', uid: 1000 });
    expect(parseSelector('unix:gid:4294967294')).toEqual({ kind: 'gid', gid: 4294967294 });
    expect(parseSelector('unix:path:/usr/bin/app')).toEqual({ kind: 'path', path: '/usr/bin/app' });
    expect(parseSelector('unix:path:/opt/my app/bin')).toEqual({ kind: 'path', path: '/opt/my app/bin' });
  });

  it.each([
    '',
    'uid:1000',
    'unix:uid',
    'unix:uid:',
    'unix:uid:-1',
    'unix:uid:01',
    'unix:uid:1e3',
    'unix:uid: 1',
    'unix:uid:1.0',
    'unix:uid:4294967295',
    'unix:uid:99999999999',
    'unix:gid:abc',
    'unix:user:root',
    'UNIX:uid:1',
    'k8s:ns:default',
    'unix:path:',
    'unix:path:relative/bin',
    'unix:path:/usr//bin',
    'unix:path:/usr/bin/',
    'unix:path:/usr/./bin',
    'unix:path:/usr/../bin',
    'unix:path:/usr/bin\0x',
  ])('rejects %j', (text) => {
    expect(() => parseSelector(text)).toThrow(SelectorError);
  });

  it('says which selector is wrong', () => {
    expect(() => parseSelector('unix:uid:x')).toThrow(/unix:uid:x.*decimal/);
  });
});

describe('selectorMatches', () => {
  const caller = { uid: 1000, gid: 100, path: '/usr/bin/app' };
  it('compares uid, gid and path exactly', () => {
    expect(selectorMatches({ kind: 'uid', uid: 1000 }, caller)).toBe(true);
    expect(selectorMatches({ kind: 'uid', uid: 100 }, caller)).toBe(false);
    expect(selectorMatches({ kind: 'gid', gid: 100 }, caller)).toBe(true);
    expect(selectorMatches({ kind: 'gid', gid: 1000 }, caller)).toBe(false);
    expect(selectorMatches({ kind: 'path', path: '/usr/bin/app' }, caller)).toBe(true);
    expect(selectorMatches({ kind: 'path', path: '/usr/bin/App' }, caller)).toBe(false);
  });

  it('never matches a path selector when the path is unknown', () => {
    expect(selectorMatches({ kind: 'path', path: '/usr/bin/app' }, { uid: 1000, gid: 100 })).toBe(false);
  });
});

describe('compileEntries and matchingSpiffeIds', () => {
  const entries = compileEntries([
    { spiffeId: 'spiffe://td/web', selectors: ['unix:uid:1000'] },
    { spiffeId: 'spiffe://td/web-app', selectors: ['unix:uid:1000', 'unix:path:/usr/bin/app'] },
    { spiffeId: 'spiffe://td/admin', selectors: ['unix:uid:0', 'unix:gid:0'] },
    { spiffeId: 'spiffe://td/staff', selectors: ['unix:gid:100'] },
    { spiffeId: 'spiffe://td/web', selectors: ['unix:gid:100'] },
  ]);

  it('returns every entry whose selectors all match, in order, each ID once', () => {
    expect(matchingSpiffeIds(entries, { uid: 1000, gid: 100, path: '/usr/bin/app' })).toEqual([
      'spiffe://td/web',
      'spiffe://td/web-app',
      'spiffe://td/staff',
    ]);
  });

  it('needs ALL selectors of an entry, not any', () => {
    expect(matchingSpiffeIds(entries, { uid: 1000, gid: 5, path: '/usr/bin/other' })).toEqual(['spiffe://td/web']);
    expect(matchingSpiffeIds(entries, { uid: 0, gid: 5 })).toEqual([]);
    expect(matchingSpiffeIds(entries, { uid: 0, gid: 0 })).toEqual(['spiffe://td/admin']);
  });

  it('returns nothing for a caller no entry selects', () => {
    expect(matchingSpiffeIds(entries, { uid: 4242, gid: 4242 })).toEqual([]);
  });

  it('refuses an entry without selectors, which would match everyone', () => {
    expect(() => compileEntries([{ spiffeId: 'spiffe://td/all', selectors: [] }])).toThrow(/no selectors/);
  });

  it('names the entry and selector at fault', () => {
    try {
      compileEntries([{ spiffeId: 'spiffe://td/x', selectors: ['unix:uid:1', 'unix:uid:nope'] }]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SelectorError);
      expect((err as SelectorError).message).toMatch(/spiffe:\/\/td\/x.*unix:uid:nope/);
      expect((err as SelectorError).context).toMatchObject({ selector: 'unix:uid:nope', spiffeId: 'spiffe://td/x' });
      expect((err as SelectorError).code).toBe('workload-api');
    }
  });
});
