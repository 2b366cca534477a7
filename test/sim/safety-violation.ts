/**
 * The safety properties the simulator checks, and the error a broken one throws. The message
 * always starts with the property's name, so failures can be told apart by text.
 */

/**
 * The properties of Figure 3 of the paper, what the clients were told (§6.4, §8), and what
 * configuration changes must keep (thesis §4.1): commitment by a majority of the voters, and
 * majorities that meet across the configurations members can act on.
 */
export type SafetyProperty =
  | 'election safety'
  | 'log matching'
  | 'leader completeness'
  | 'state machine safety'
  | 'linearizable read'
  | 'lost acknowledged write'
  | 'commit quorum'
  | 'overlapping majorities';

/** A broken safety property; the message starts with the property's name. */
export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(
    readonly property: SafetyProperty,
    details: string,
  ) {
    super(`${property}: ${details}`);
  }
}
