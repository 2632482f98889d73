/**
 * Config files as text for the config part's unit tests: parse one as if it
 * were /etc/meshgate/gw.yaml, or get the error lines it produces.
 */
import { expect } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../load.js';
import type { GatewayConfig } from '../types.js';

export const BASE_DIR = '/etc/meshgate';

export const parse = (text: string): GatewayConfig => parseConfig(text, { source: 'gw.yaml', baseDir: BASE_DIR });

/** The error lines a config produces; fails the test if it parses. */
export function errorsOf(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

/** A minimal valid file with `extra` appended, so each case shows only what it breaks. */
export const minimal = (extra = ''): string => `federation: acme\ncluster: us-east\n${extra}`;
