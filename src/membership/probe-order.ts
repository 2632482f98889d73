/**
 * Whom to probe next, and whom to ask for help when a probe fails.
 *
 * Probing walks a shuffled list round-robin, as memberlist's `probe` and
 * `resetNodes` (state.go) do: every member is probed once per round, which
 * bounds the time to first detection to about two rounds (SWIM's
 * round-robin bound) where picking at random each time would leave an
 * unlucky member unprobed for long stretches.
 */
import type { MemberInfo, MemberState, Random } from './types.js';

/** A random index in [0, n), robust to a Random that returns 1. */
function randomIndex(random: Random, n: number): number {
  return Math.min(n - 1, Math.floor(random() * n));
}

/** Fisher–Yates in place (memberlist `shuffleNodes`). */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomIndex(random, i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}

/** Alive and suspect members are probed; dead ones only through re-probes, left ones never. */
export function isProbeable(member: MemberState): boolean {
  return member.status === 'alive' || member.status === 'suspect';
}

/**
 * Randomized round-robin over the probeable members other than ourselves.
 * The caller passes the current member list at every call; the order keeps
 * only ids, so joins, deaths and refutations between calls are taken into
 * account without a separate notification.
 */
export class ProbeOrder {
  private round: string[] = [];
  private inRound = new Set<string>();
  private index = 0;

  constructor(
    private readonly selfId: string,
    private readonly random: Random,
  ) {}

  /**
   * The next member to probe, or undefined when there is none. Members that
   * died or left since the round was shuffled are skipped; a member that
   * joined mid-round is slotted at a random place among those not yet
   * probed this round (memberlist inserts new nodes at a random offset of
   * the whole list, which can push a newcomer's first probe a full round
   * out; inserting ahead of the cursor keeps the one-round bound).
   */
  next(members: readonly MemberState[]): MemberState | undefined {
    const eligible = new Map<string, MemberState>();
    for (const m of members) {
      if (m.id !== this.selfId && isProbeable(m)) eligible.set(m.id, m);
    }
    if (eligible.size === 0) return undefined;

    for (const id of eligible.keys()) {
      if (!this.inRound.has(id)) this.insertAhead(id);
    }

    for (let pass = 0; pass < 2; pass++) {
      while (this.index < this.round.length) {
        const id = this.round[this.index] as string;
        this.index += 1;
        const member = eligible.get(id);
        if (member) return member;
      }
      // End of a round: reshuffle what is probeable now (memberlist
      // `resetNodes`, which also drops the dead from the list).
      this.round = shuffle([...eligible.keys()], this.random);
      this.inRound = new Set(this.round);
      this.index = 0;
    }
    return undefined;
  }

  private insertAhead(id: string): void {
    const position = this.index + randomIndex(this.random, this.round.length - this.index + 1);
    this.round.splice(position, 0, id);
    this.inRound.add(id);
  }
}

/**
 * k helpers for an indirect probe of `target`: alive members only (a
 * suspect helper's answer would prove little, as in memberlist's
 * `kRandomNodes` filter), never the target or ourselves.
 *
 * Preference, because NATS gateways do not relay to a third cluster (NATS
 * docs, "Gateways": a full mesh, one hop): if the link between our cluster
 * and the target's is broken, only a helper in a *third* cluster can reach
 * the target for us. So:
 *   1. members of clusters that are neither ours nor the target's, taken
 *      round-robin across those clusters (one per cluster before a second
 *      from any), so one sick third cluster cannot absorb every ping-req;
 *   2. then members of the target's cluster (they reach it over local NATS
 *      when our link to that cluster still carries requests);
 *   3. then members of our own cluster (they share our gateway links, so
 *      they add least).
 * Within each tier the choice is random.
 */
export function pickIndirectHelpers(
  target: MemberInfo,
  k: number,
  members: readonly MemberState[],
  random: Random,
  self: MemberInfo,
): MemberState[] {
  if (k <= 0) return [];
  const byThirdCluster = new Map<string, MemberState[]>();
  const targetCluster: MemberState[] = [];
  const ownCluster: MemberState[] = [];
  for (const m of members) {
    if (m.id === target.id || m.id === self.id || m.status !== 'alive') continue;
    if (m.cluster === target.cluster) targetCluster.push(m);
    else if (m.cluster === self.cluster) ownCluster.push(m);
    else {
      const list = byThirdCluster.get(m.cluster);
      if (list) list.push(m);
      else byThirdCluster.set(m.cluster, [m]);
    }
  }

  const picked: MemberState[] = [];
  const clusters = shuffle([...byThirdCluster.keys()].sort(), random).map((c) =>
    shuffle([...(byThirdCluster.get(c) as MemberState[])], random),
  );
  for (let depth = 0; picked.length < k; depth++) {
    let tookAny = false;
    for (const list of clusters) {
      const m = list[depth];
      if (m === undefined) continue;
      tookAny = true;
      picked.push(m);
      if (picked.length === k) return picked;
    }
    if (!tookAny) break;
  }
  for (const tier of [targetCluster, ownCluster]) {
    for (const m of shuffle(tier, random)) {
      picked.push(m);
      if (picked.length === k) return picked;
    }
  }
  return picked;
}
