/**
 * pkijs does its signing and verifying through a global "crypto engine".
 * It can guess one from `globalThis.crypto`, but the guess depends on load
 * order and on what else set an engine first; pinning Node's own webcrypto
 * once makes every pkijs call in this process use the same implementation.
 */
import { webcrypto } from 'node:crypto';
import * as pkijs from 'pkijs';

type ImportedKey = ReturnType<pkijs.CryptoEngine['getPublicKey']>;

/**
 * Path validation imports the issuer's public key again for every signature
 * it checks (about a third of a verification), while roots and
 * intermediates repeat in every chain. The parsed certificates are shared
 * (x509-verify.ts), so their PublicKeyInfo objects are a sound cache key.
 */
class NodeWebCryptoEngine extends pkijs.CryptoEngine {
  readonly #imported = new WeakMap<pkijs.PublicKeyInfo, Map<string, ImportedKey>>();

  override getPublicKey(
    publicKeyInfo: pkijs.PublicKeyInfo,
    signatureAlgorithm: pkijs.AlgorithmIdentifier,
    parameters?: pkijs.CryptoEnginePublicKeyParams,
  ): ImportedKey {
    const params = parameters ?? this.fillPublicKeyParameters(publicKeyInfo, signatureAlgorithm);
    // The import parameters (curve, and hash for RSA) are part of a WebCrypto key.
    const paramsKey = JSON.stringify(params.algorithm);
    let byParams = this.#imported.get(publicKeyInfo);
    if (!byParams) {
      byParams = new Map();
      this.#imported.set(publicKeyInfo, byParams);
    }
    let key = byParams.get(paramsKey);
    if (!key) {
      key = super.getPublicKey(publicKeyInfo, signatureAlgorithm, params);
      // A failed import is not remembered: the next caller gets the error afresh.
      key.catch(() => byParams.delete(paramsKey));
      byParams.set(paramsKey, key);
    }
    return key;
  }
}

let engine: pkijs.ICryptoEngine | undefined;

/** The engine every pkijs call of this part uses; installs it globally on first use. */
export function pkijsCrypto(): pkijs.ICryptoEngine {
  if (engine === undefined) {
    // Node's webcrypto is the WebCrypto API pkijs is written against; the
    // cast only bridges @types/node's copy of the interface and the DOM one.
    engine = new NodeWebCryptoEngine({ name: 'node', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });
    pkijs.setEngine('node', engine);
  }
  return engine;
}
