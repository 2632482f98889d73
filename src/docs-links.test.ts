/**
 * The documentation links only to what the repository has: every relative
 * link in README.md and docs/*.md names a file that exists and, with a
 * `#fragment`, a heading of that file (GitHub's anchor rule).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to "-". */
const anchorOf = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map((m) => anchorOf(m[1] as string)));
}

function linksOf(page: string): string[] {
  const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l));
}

describe('documentation links', () => {
  it.each(PAGES)('%s links only to files and headings of this repository', (page) => {
    const links = linksOf(page);
    for (const link of links) {
      const [path, fragment] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(ROOT, page) : join(dirname(join(ROOT, page)), path);
      expect(relative(ROOT, target).startsWith('..'), `${page}: ${link} leaves the repository`).toBe(false);
      expect(existsSync(target), `${page}: ${link}`).toBe(true);
      if (fragment !== undefined) expect([...anchorsOf(target)], `${page}: ${link}`).toContain(fragment);
    }
  });

  it('finds the links it checks', () => {
    expect(linksOf('README.md').length).toBeGreaterThan(5);
    expect(anchorOf('Between gateways: the federation port and its headers')).toBe('between-gateways-the-federation-port-and-its-headers');
  });
});
