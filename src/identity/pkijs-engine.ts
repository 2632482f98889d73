/**
 * pkijs does its signing and verifying through a global "crypto engine".
 * It can guess one from `globalThis.crypto`, but the guess depends on load
 * order and on what else set an engine first; pinning Node's own webcrypto
 * once makes every pkijs call in this process use the same implementation.
 */
import { webcrypto } from 'node:crypto';
import * as pkijs from 'pkijs';

let engine: pkijs.ICryptoEngine | undefined;

/** The engine every pkijs call of this part uses; installs it globally on first use. */
export function pkijsCrypto(): pkijs.ICryptoEngine {
  if (engine === undefined) {
    // Node's webcrypto is the WebCrypto API pkijs is written against; the
    // cast only bridges @types/node's copy of the interface and the DOM one.
    engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });
    pkijs.setEngine('node', engine);
  }
  return engine;
}
