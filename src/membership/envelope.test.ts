import { sign, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, gatewaySpiffeId, type TrustBundle, type X509Svid } from '../identity/index.js';
import {
  DEFAULT_CHAIN_EVERY,
  EnvelopeSigner,
  EnvelopeVerifier,
  MAX_ENVELOPE_BYTES,
  canonicalBytes,
  canonicalJson,
  chainFingerprint,
  encodeEnvelope,
  type Envelope,
  type EnvelopeRejectReason,
  type EnvelopeVerifierOptions,
  type SignedFields,
} from './envelope.js';

const US = 'us-east.acme.example';
const EU = 'eu-west.acme.example';
const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

let sharedRoot: CertificateAuthority;
let usCa: CertificateAuthority;
let euCa: CertificateAuthority;
let usA: X509Svid; // gateway us-east.a
let usB: X509Svid; // gateway us-east.b
let euA: X509Svid; // gateway eu-west.a
let workload: X509Svid; // spiffe://us-east…/ns/shop/sa/web
let rogueUsA: X509Svid; // us-east.a's ID from a root nobody trusts
let euClaimingUs: X509Svid; // eu-west's CA minting a gateway ID for cluster us-east
let shortLived: X509Svid;
let rogueRoot: CertificateAuthority; // claims our trust domain; in no bundle

const bundles = new Map<string, TrustBundle>();
const bundle = (trustDomain: string, roots: readonly Uint8Array[]): TrustBundle => ({ trustDomain, x509Authorities: roots, jwtAuthorities: [] });

beforeAll(async () => {
  const now = new Date(T0);
  sharedRoot = await CertificateAuthority.createRoot({ trustDomain: 'acme.example', ttlMs: 30 * 24 * HOUR, now });
  usCa = await sharedRoot.createIntermediate({ trustDomain: US, now });
  euCa = await sharedRoot.createIntermediate({ trustDomain: EU, now });
  rogueRoot = await CertificateAuthority.createRoot({ trustDomain: US, now });
  [usA, usB, euA, workload, rogueUsA, euClaimingUs, shortLived] = await Promise.all([
    usCa.issueX509Svid({ spiffeId: gatewaySpiffeId(US, 'us-east', 'a'), now }),
    usCa.issueX509Svid({ spiffeId: gatewaySpiffeId(US, 'us-east', 'b'), now }),
    euCa.issueX509Svid({ spiffeId: gatewaySpiffeId(EU, 'eu-west', 'a'), now }),
    usCa.issueX509Svid({ spiffeId: `spiffe://${US}/ns/shop/sa/web`, now }),
    rogueRoot.issueX509Svid({ spiffeId: gatewaySpiffeId(US, 'us-east', 'a'), now }),
    euCa.issueX509Svid({ spiffeId: gatewaySpiffeId(EU, 'us-east', 'x'), now }),
    usCa.issueX509Svid({ spiffeId: gatewaySpiffeId(US, 'us-east', 'c'), ttlMs: 60_000, now }),
  ]);
  bundles.set(US, bundle(US, [sharedRoot.rootDer]));
  bundles.set(EU, bundle(EU, [sharedRoot.rootDer]));
});

// --------------------------------------------------------------------------
// Helpers

const fakeClock = (t = T0) => {
  const clock = { t, now: () => clock.t };
  return clock;
};

function setup(options: Partial<EnvelopeVerifierOptions> = {}) {
  const clock = fakeClock();
  const verifier = new EnvelopeVerifier({ bundleFor: (td) => bundles.get(td), clock, ...options });
  return { clock, verifier };
}

const signerFor = (svid: X509Svid, from: string, chainEvery?: number) =>
  new EnvelopeSigner({ svid: () => svid, from, ...(chainEvery === undefined ? {} : { chainEvery }) });

const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64');

/** An envelope built by hand: any fields, any key, chain or not. The signer's own checks are what this goes around. */
function forge(
  svid: Pick<X509Svid, 'chain' | 'privateKey'>,
  fields: Partial<SignedFields> & Pick<SignedFields, 'from' | 'seq'>,
  options: { key?: KeyObject; chain?: boolean } = {},
): Envelope {
  const signed: SignedFields = { v: 1, ts: T0, kind: 'ping', body: {}, fp: chainFingerprint(svid.chain), ...fields };
  const sig = sign('sha256', canonicalBytes(signed), { key: options.key ?? svid.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return options.chain === false ? { ...signed, sig } : { ...signed, sig, chain: svid.chain.map(b64) };
}

const bytes = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

async function reasonOf(verifier: EnvelopeVerifier, raw: Uint8Array): Promise<EnvelopeRejectReason | 'ok'> {
  const result = await verifier.open(raw);
  return result.ok ? 'ok' : result.error.reason;
}

// --------------------------------------------------------------------------

describe('canonicalJson and canonicalBytes', () => {
  it('sorts keys at every level and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('leaves out undefined properties and writes undefined array items as null, as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('formats numbers and strings as JSON.stringify does', () => {
    expect(canonicalJson([1.5, -0, 1e21, 'é\u2028"\\', '\ud800'])).toBe(JSON.stringify([1.5, 0, 1e21, 'é\u2028"\\', '\ud800']));
  });

  it('refuses what is not JSON', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1n, () => 1, Symbol('s')]) expect(() => canonicalJson({ x: bad })).toThrow(TypeError);
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(TypeError);
  });

  it('signs exactly v, from, seq, ts, kind, body and fp, after a context prefix', () => {
    const fields: SignedFields = { v: 1, from: 'us-east.a', seq: 7, ts: 5, kind: 'ping', body: { b: 1, a: 2 }, fp: 'F' };
    const text = new TextDecoder().decode(canonicalBytes(fields));
    expect(text).toBe('meshgate-envelope-v1\n{"body":{"a":2,"b":1},"fp":"F","from":"us-east.a","kind":"ping","seq":7,"ts":5,"v":1}');
    const withExtras = { ...fields, sig: 'x', chain: ['y'], extra: 1 } as SignedFields;
    expect(canonicalBytes(withExtras)).toEqual(canonicalBytes(fields));
  });

  it('fingerprints a chain with length prefixes, so a different split of the same bytes differs', () => {
    const a = chainFingerprint([Uint8Array.of(1, 2), Uint8Array.of(3)]);
    const b = chainFingerprint([Uint8Array.of(1), Uint8Array.of(2, 3)]);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('EnvelopeSigner', () => {
  it('starts seq at clock × 1024 and counts up by one', () => {
    const signer = signerFor(usA, 'us-east.a');
    const a = signer.seal('ping', {}, T0);
    const b = signer.seal('ping', {}, T0 + 5_000);
    expect(a.seq).toBe(T0 * 1024);
    expect(b.seq).toBe(a.seq + 1);
    expect(Number.isSafeInteger(b.seq)).toBe(true);
  });

  it('starts a restarted sender above its previous run', () => {
    const before = signerFor(usA, 'us-east.a');
    let last = 0;
    for (let i = 0; i < 5_000; i++) last = before.seal('ping', {}, T0).seq;
    const after = signerFor(usA, 'us-east.a').seal('ping', {}, T0 + 10);
    expect(after.seq).toBeGreaterThan(last);
  });

  it('attaches the chain first, every chainEvery messages, when the SVID changes, and on request', () => {
    let svid = usA;
    const signer = new EnvelopeSigner({ svid: () => svid, from: 'us-east.a', chainEvery: 4 });
    const attached = () => (signer.seal('ping', {}, T0).chain ? 1 : 0);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map(attached)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expect(signer.seal('ping', {}, T0, { withChain: true }).chain).toEqual(usA.chain.map(b64));
    expect(attached()).toBe(0);
    svid = { ...usA }; // a renewal: another SVID object
    expect(attached()).toBe(1);
    expect(DEFAULT_CHAIN_EVERY).toBeGreaterThan(1);
  });

  it('always carries the chain fingerprint', () => {
    const envelope = signerFor(usA, 'us-east.a').seal('ping', { n: 1 }, T0);
    expect(envelope.fp).toBe(chainFingerprint(usA.chain));
    expect(envelope).toMatchObject({ v: 1, from: 'us-east.a', ts: T0, kind: 'ping', body: { n: 1 } });
    expect(envelope.sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  it('refuses to sign as a member its SVID does not name, or with a non-gateway SVID', () => {
    expect(() => signerFor(usA, 'us-east.b').seal('ping', {}, T0)).toThrow(/names gateway us-east\.a, not us-east\.b/);
    expect(() => signerFor(workload, 'us-east.a').seal('ping', {}, T0)).toThrow(/not a gateway identity/);
    expect(() => signerFor(usA, 'us-east')).toThrow(TypeError);
  });
});

describe('EnvelopeVerifier: accepted', () => {
  it('opens a sealed envelope and names its signer', async () => {
    const { verifier } = setup();
    const envelope = signerFor(usA, 'us-east.a').seal('ping', { hello: ['world', 1] }, T0);
    const result = await verifier.open(encodeEnvelope(envelope));
    expect(result).toEqual({
      ok: true,
      value: {
        envelope: { ...envelope },
        signer: { spiffeId: gatewaySpiffeId(US, 'us-east', 'a'), trustDomain: US, cluster: 'us-east', replica: 'a' },
      },
    });
  });

  it('verifies the chain once, then only the signature (cache by fingerprint)', async () => {
    const { verifier, clock } = setup();
    const signer = signerFor(usA, 'us-east.a', 1_000);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('ok');
    expect(verifier.cachedChains).toBe(1);
    for (let i = 0; i < 50; i++) {
      clock.t = T0 + i;
      const envelope = signer.seal('ping', { i }, clock.t);
      expect(envelope.chain).toBeUndefined();
      expect(await reasonOf(verifier, encodeEnvelope(envelope))).toBe('ok');
    }
    expect(verifier.cachedChains).toBe(1);
  });

  it('accepts from several senders of both trust domains', async () => {
    const { verifier } = setup();
    for (const [svid, from] of [
      [usA, 'us-east.a'],
      [usB, 'us-east.b'],
      [euA, 'eu-west.a'],
    ] as const) {
      expect(await reasonOf(verifier, encodeEnvelope(signerFor(svid, from).seal('ping', {}, T0)))).toBe('ok');
    }
  });

  it('tolerates reordering within the replay window', async () => {
    const { verifier } = setup();
    const signer = signerFor(usA, 'us-east.a');
    const sealed = Array.from({ length: 20 }, () => encodeEnvelope(signer.seal('ping', {}, T0, { withChain: true })));
    for (const raw of [...sealed].reverse()) expect(await reasonOf(verifier, raw)).toBe('ok');
  });
});

describe('EnvelopeVerifier: rejected', () => {
  it('bad-signature: signed by another SVID key', async () => {
    const { verifier } = setup();
    const raw = encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 1 }, { key: usB.privateKey }));
    expect(await reasonOf(verifier, raw)).toBe('bad-signature');
  });

  it('bad-signature: body, seq, ts or kind changed after signing', async () => {
    const { verifier } = setup();
    const envelope = signerFor(usA, 'us-east.a').seal('ping', { healthy: 1 }, T0);
    for (const tampered of [
      { ...envelope, body: { healthy: 9 } },
      { ...envelope, seq: envelope.seq + 1 },
      { ...envelope, ts: envelope.ts + 1 },
      { ...envelope, kind: 'ack' },
    ]) {
      expect(await reasonOf(verifier, encodeEnvelope(tampered))).toBe('bad-signature');
    }
    expect(await reasonOf(verifier, encodeEnvelope(envelope))).toBe('ok'); // the rejects did not burn its seq
  });

  it('untrusted-chain: a foreign root minting our trust domain gateway ID', async () => {
    const { verifier } = setup();
    const result = await verifier.open(encodeEnvelope(forge(rogueUsA, { from: 'us-east.a', seq: 1 })));
    expect(result).toMatchObject({ ok: false, error: { reason: 'untrusted-chain' } });
    expect(verifier.cachedChains).toBe(0);
  });

  it('untrusted-chain: a trust domain we have no bundle for', async () => {
    const { verifier } = setup({ bundleFor: (td) => (td === US ? bundles.get(US) : undefined) });
    expect(await reasonOf(verifier, encodeEnvelope(signerFor(euA, 'eu-west.a').seal('ping', {}, T0)))).toBe('untrusted-chain');
  });

  it('not-a-gateway: a workload SVID of a trusted domain', async () => {
    const { verifier } = setup();
    const result = await verifier.open(encodeEnvelope(forge(workload, { from: 'us-east.a', seq: 1 })));
    expect(result).toEqual({ ok: false, error: { reason: 'not-a-gateway', detail: `spiffe://${US}/ns/shop/sa/web` } });
  });

  it('sender-mismatch: one gateway speaking as another', async () => {
    const { verifier } = setup();
    expect(await reasonOf(verifier, encodeEnvelope(forge(usB, { from: 'us-east.a', seq: 1 })))).toBe('sender-mismatch');
    expect(await reasonOf(verifier, encodeEnvelope(forge(euA, { from: 'us-east.a', seq: 1 })))).toBe('sender-mismatch');
  });

  it('wrong-trust-domain: another domain CA minting a gateway of our cluster, when the binding is known', async () => {
    const raw = encodeEnvelope(forge(euClaimingUs, { from: 'us-east.x', seq: 1 }));
    const bound = setup({ trustDomainOfCluster: (c) => ({ 'us-east': US, 'eu-west': EU })[c] });
    expect(await bound.verifier.open(raw)).toMatchObject({ ok: false, error: { reason: 'wrong-trust-domain' } });
    // Without the binding the chain itself is valid: the gap the option closes.
    expect(await reasonOf(setup().verifier, raw)).toBe('ok');
  });

  it('replay: the same message twice', async () => {
    const { verifier } = setup();
    const raw = encodeEnvelope(signerFor(usA, 'us-east.a').seal('ping', {}, T0));
    expect(await reasonOf(verifier, raw)).toBe('ok');
    expect(await reasonOf(verifier, raw)).toBe('replay');
  });

  it('replay: the same message opened twice at once is accepted once', async () => {
    const { verifier } = setup();
    const raw = encodeEnvelope(signerFor(usA, 'us-east.a').seal('ping', {}, T0));
    const results = await Promise.all([verifier.open(raw), verifier.open(raw)]);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.reason)).sort()).toEqual(['ok', 'replay']);
  });

  it('replay: a seq below the window, even if never seen; inside the window unseen is fine', async () => {
    const { verifier } = setup({ replayWindow: 1024 });
    const send = (seq: number) => reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq })));
    expect(await send(5_000)).toBe('ok');
    expect(await send(7_000)).toBe('ok');
    expect(await send(7_000 - 1024)).toBe('replay'); // at the window's lower edge: cannot tell
    expect(await send(7_000 - 1023)).toBe('ok');
    expect(await send(7_000 - 1023)).toBe('replay');
    expect(await send(6_999)).toBe('ok');
    expect(await send(5_000)).toBe('replay');
  });

  it('replay windows are per sender', async () => {
    const { verifier } = setup();
    expect(await reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 10 })))).toBe('ok');
    expect(await reasonOf(verifier, encodeEnvelope(forge(usB, { from: 'us-east.b', seq: 10 })))).toBe('ok');
  });

  it('forgets a sender window once all it accepted is stale, so a sender whose clock went back is heard again', async () => {
    const { verifier, clock } = setup();
    expect(await reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 9_000, ts: T0 })))).toBe('ok');
    clock.t = T0 + 20_000;
    expect(await reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 100, ts: clock.t })))).toBe('replay');
    clock.t = T0 + 30_001;
    expect(await reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 9_000, ts: T0 })))).toBe('stale'); // the old one stays out
    expect(await reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq: 100, ts: clock.t })))).toBe('ok');
  });

  it('stale: ts more than 30 s ahead or behind; exactly 30 s is accepted', async () => {
    const { verifier } = setup();
    const at = (ts: number, seq: number) => reasonOf(verifier, encodeEnvelope(forge(usA, { from: 'us-east.a', seq, ts })));
    expect(await at(T0 + 30_001, 1)).toBe('stale');
    expect(await at(T0 - 30_001, 2)).toBe('stale');
    expect(await at(T0 + 30_000, 3)).toBe('ok');
    expect(await at(T0 - 30_000, 4)).toBe('ok');
  });

  it('oversized: more than 64 KiB, checked before parsing', async () => {
    const { verifier } = setup();
    const big = encodeEnvelope(signerFor(usA, 'us-east.a').seal('health', { pad: 'x'.repeat(MAX_ENVELOPE_BYTES) }, T0));
    expect(big.byteLength).toBeGreaterThan(MAX_ENVELOPE_BYTES);
    expect(await reasonOf(verifier, big)).toBe('oversized');
    expect(await reasonOf(verifier, new Uint8Array(MAX_ENVELOPE_BYTES + 1))).toBe('oversized');
    expect(await reasonOf(setup({ maxBytes: 100 }).verifier, new Uint8Array(101))).toBe('oversized');
  });

  describe('malformed, unknown-version, unsigned', () => {
    let good: Envelope;
    beforeAll(() => {
      good = forge(usA, { from: 'us-east.a', seq: 1 });
    });
    const without = (key: keyof Envelope) => {
      const copy: Record<string, unknown> = { ...good };
      delete copy[key];
      return copy;
    };

    it.each<[string, EnvelopeRejectReason, () => Uint8Array]>([
      ['not JSON', 'malformed', () => bytes('{"v":1,')],
      ['not UTF-8', 'malformed', () => Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)],
      ['empty', 'malformed', () => new Uint8Array(0)],
      ['a JSON array', 'malformed', () => bytes([good])],
      ['a JSON string', 'malformed', () => bytes('"envelope"')],
      ['null', 'malformed', () => bytes('null')],
      ['no v', 'malformed', () => bytes(without('v'))],
      ['v as a string', 'malformed', () => bytes({ ...good, v: '1' })],
      ['v 2', 'unknown-version', () => bytes({ ...good, v: 2 })],
      ['v 0', 'unknown-version', () => bytes({ ...good, v: 0 })],
      ['no sig', 'unsigned', () => bytes(without('sig'))],
      ['sig null', 'unsigned', () => bytes({ ...good, sig: null })],
      ['sig empty', 'unsigned', () => bytes({ ...good, sig: '' })],
      ['sig too short', 'malformed', () => bytes({ ...good, sig: good.sig.slice(1) })],
      ['sig a number', 'malformed', () => bytes({ ...good, sig: 5 })],
      ['no from', 'malformed', () => bytes(without('from'))],
      ['from without a replica', 'malformed', () => bytes({ ...good, from: 'us-east' })],
      ['from with a subject wildcard', 'malformed', () => bytes({ ...good, from: 'us-east.*' })],
      ['no seq', 'malformed', () => bytes(without('seq'))],
      ['seq a string', 'malformed', () => bytes({ ...good, seq: '1' })],
      ['seq negative', 'malformed', () => bytes({ ...good, seq: -1 })],
      ['seq fractional', 'malformed', () => bytes({ ...good, seq: 1.5 })],
      ['seq beyond 2^53', 'malformed', () => bytes({ ...good, seq: 2 ** 60 })],
      ['no ts', 'malformed', () => bytes(without('ts'))],
      ['ts a string', 'malformed', () => bytes({ ...good, ts: new Date(T0).toISOString() })],
      ['ts overflowing to Infinity', 'malformed', () => bytes(JSON.stringify(good).replace(`"ts":${T0}`, '"ts":1e400'))],
      ['no kind', 'malformed', () => bytes(without('kind'))],
      ['kind with a space', 'malformed', () => bytes({ ...good, kind: 'ping req' })],
      ['no body', 'malformed', () => bytes(without('body'))],
      ['no fp', 'malformed', () => bytes(without('fp'))],
      ['fp too short', 'malformed', () => bytes({ ...good, fp: 'abc' })],
      ['an unknown field', 'malformed', () => bytes({ ...good, admin: true })],
      ['chain not a list', 'malformed', () => bytes({ ...good, chain: 'MII' })],
      ['chain empty', 'malformed', () => bytes({ ...good, chain: [] })],
      ['chain of nine', 'malformed', () => bytes({ ...good, chain: Array.from({ length: 9 }, () => good.chain?.[0]) })],
      ['chain with a number', 'malformed', () => bytes({ ...good, chain: [1] })],
      ['chain not base64', 'malformed', () => bytes({ ...good, chain: ['not base64!'] })],
      ['chain not matching fp', 'malformed', () => bytes({ ...good, chain: usB.chain.map(b64) })],
      ['chain of garbage that matches its fp', 'untrusted-chain', () => bytes(forge({ chain: [Uint8Array.of(1, 2, 3)], privateKey: usA.privateKey }, { from: 'us-east.a', seq: 1 }))],
    ])('%s → %s', async (_what, reason, raw) => {
      const { verifier } = setup();
      expect(await reasonOf(verifier, raw())).toBe(reason);
    });

    it('a body nested too deep to canonicalize', async () => {
      const { verifier } = setup();
      let body: unknown = 1;
      for (let i = 0; i < 100; i++) body = { a: body };
      const envelope = { ...good, body };
      expect(await verifier.open(bytes(envelope))).toMatchObject({ ok: false, error: { reason: 'malformed' } });
    });

    it('something that is not bytes at all', async () => {
      const { verifier } = setup();
      expect(await reasonOf(verifier, 'a string' as unknown as Uint8Array)).toBe('malformed');
      expect(await reasonOf(verifier, undefined as unknown as Uint8Array)).toBe('malformed');
    });
  });
});

describe('EnvelopeVerifier: the chain cache', () => {
  it('unknown-chain for a fingerprint it has not seen, then accepted once the chain has come', async () => {
    const { verifier } = setup();
    const signer = signerFor(usA, 'us-east.a', 1_000);
    signer.seal('ping', {}, T0); // the first message, with the chain, went to someone else
    const before = signer.seal('ping', { n: 2 }, T0);
    expect(before.chain).toBeUndefined();
    expect(await verifier.open(encodeEnvelope(before))).toMatchObject({ ok: false, error: { reason: 'unknown-chain' } });
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', { n: 3 }, T0, { withChain: true })))).toBe('ok');
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', { n: 4 }, T0)))).toBe('ok');
    // The one refused for its unknown chain was not consumed: a retransmission is accepted.
    expect(await reasonOf(verifier, encodeEnvelope(before))).toBe('ok');
  });

  it('evicts a chain at its NotAfter', async () => {
    const { verifier, clock } = setup();
    const signer = signerFor(shortLived, 'us-east.c', 1_000);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('ok');
    clock.t = shortLived.notAfter.getTime() + 1;
    expect(await verifier.open(encodeEnvelope(signer.seal('ping', {}, clock.t)))).toMatchObject({ ok: false, error: { reason: 'untrusted-chain' } });
    expect(verifier.cachedChains).toBe(0);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, clock.t, { withChain: true })))).toBe('untrusted-chain');
  });

  it('checks a cached chain again when its bundle changes', async () => {
    const clock = fakeClock();
    let current = bundle(US, [sharedRoot.rootDer]);
    const verifier = new EnvelopeVerifier({ bundleFor: (td) => (td === US ? current : undefined), clock });
    const signer = signerFor(usA, 'us-east.a', 1_000);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('ok');
    current = bundle(US, [sharedRoot.rootDer]); // refreshed, same root
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('ok');
    current = bundle(US, [rogueRoot.rootDer]); // the shared root replaced by another
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('untrusted-chain');
  });

  it('stays bounded', async () => {
    const { verifier } = setup({ chainCacheSize: 2 });
    for (const [svid, from] of [
      [usA, 'us-east.a'],
      [usB, 'us-east.b'],
      [euA, 'eu-west.a'],
    ] as const) {
      await verifier.open(encodeEnvelope(signerFor(svid, from).seal('ping', {}, T0)));
    }
    expect(verifier.cachedChains).toBe(2);
  });

  it('forgets every chain on request', async () => {
    const { verifier } = setup();
    await verifier.open(encodeEnvelope(signerFor(usA, 'us-east.a').seal('ping', {}, T0)));
    verifier.forgetChains();
    expect(verifier.cachedChains).toBe(0);
  });
});

describe('EnvelopeVerifier under a flood', () => {
  it('rejects 10,000 garbage messages, counts every one, throws nothing, and still serves', async () => {
    const { verifier } = setup();
    const signer = signerFor(usA, 'us-east.a', 1_000);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', {}, T0)))).toBe('ok');
    const valid = encodeEnvelope(signer.seal('ping', { n: 1 }, T0));
    const validText = new TextDecoder().decode(valid);

    let seed = 42;
    const rand = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    const makers: (() => Uint8Array)[] = [
      () => randomBytes(1 + Math.floor(rand() * 300)),
      () => bytes(JSON.stringify({ v: 1, from: 'us-east.a', seq: Math.floor(rand() * 1e9), ts: T0, kind: 'ping', body: {}, fp: 'A'.repeat(43), sig: 'B'.repeat(86) })),
      () => {
        const flipped = valid.slice();
        const i = Math.floor(rand() * flipped.length);
        flipped[i] = (flipped[i] as number) ^ (1 << Math.floor(rand() * 8));
        return flipped;
      },
      () => valid.slice(0, Math.floor(rand() * valid.length)),
      () => bytes(validText.replace(/"seq":\d+/, `"seq":${Math.floor(rand() * 1e12)}`)),
      () => new Uint8Array(MAX_ENVELOPE_BYTES + 1 + Math.floor(rand() * 10)),
      () => bytes(`{"v":${Math.floor(rand() * 5)},"x":[${'['.repeat(Math.floor(rand() * 50))}`),
      () => valid, // a replay
    ];

    const counts = new Map<string, number>();
    let thrown = 0;
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const raw = (makers[i % makers.length] as () => Uint8Array)();
      try {
        const result = await verifier.open(raw);
        if (result.ok) accepted++;
        else counts.set(result.error.reason, (counts.get(result.error.reason) ?? 0) + 1);
      } catch {
        thrown++;
      }
    }
    expect(thrown).toBe(0);
    expect(counts.get('internal-error')).toBeUndefined();
    // The one genuine message among them is accepted once; its repeats are replays.
    expect(accepted).toBe(1);
    expect([...counts.values()].reduce((a, b) => a + b, 0) + accepted).toBe(10_000);
    expect(counts.get('replay')).toBeGreaterThan(0);
    expect(counts.get('oversized')).toBeGreaterThan(0);
    expect(counts.get('malformed')).toBeGreaterThan(0);
    expect(verifier.cachedChains).toBe(1);
    expect(await reasonOf(verifier, encodeEnvelope(signer.seal('ping', { after: true }, T0)))).toBe('ok');
  });
});
