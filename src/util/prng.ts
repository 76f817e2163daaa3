/**
 * A seeded pseudo-random generator (splitmix32). The Raft core draws its randomized election
 * timeouts from one of these so that a simulation run is fully determined by its seed.
 */
export interface Random {
  /** A uniformly distributed integer in [0, boundExclusive). */
  nextInt(boundExclusive: number): number;
  /** A uniformly distributed float in [0, 1). */
  nextFloat(): number;
}

/** splitmix32: tiny, fast, and good enough for timeouts and network fault injection. */
export class SeededRandom implements Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextFloat(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 0x100000000;
  }

  nextInt(boundExclusive: number): number {
    return Math.floor(this.nextFloat() * boundExclusive);
  }
}
