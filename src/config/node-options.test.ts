import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_OPTIONS } from './node-options.js';

const repo = (file: string) => new URL(`../../${file}`, import.meta.url);

describe("the gateway's Node options", () => {
  // Node reads them before any of our code runs, so each launcher writes them out: they must not drift apart.
  const options = GATEWAY_NODE_OPTIONS.join(' ');

  it("are on meshgate's own #! line", () => {
    expect(readFileSync(repo('src/cli.ts'), 'utf8').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${options}`);
  });

  it("are in the image's entrypoint and the quickstart script", () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(repo('Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual(['node', ...GATEWAY_NODE_OPTIONS, '/app/dist/cli.js']);
    expect(readFileSync(repo('scripts/quickstart.sh'), 'utf8')).toContain(`node ${options} dist/cli.js run`);
  });

  it('are ones Node accepts', () => {
    expect(execFileSync(process.execPath, [...GATEWAY_NODE_OPTIONS, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' })).toBe('ok');
  });
});
