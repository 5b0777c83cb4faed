/**
 * A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence in
 * [0, 1), so that a simulator's chance behaviour (a refresh token rotated now and then) replays
 * exactly in a test.
 *
 * @example
 * ```ts
 * const random = seededRandom(1);
 * if (random() < 0.1) rotate();
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
