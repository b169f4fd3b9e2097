import { DomainError } from "../kit/errors.js";

/** A bound on streams open at once, so that holding streams open cannot exhaust the process. */
export interface StreamSlots {
  /** Takes a slot, given back by the returned function; throws RESOURCE_EXHAUSTED when every slot is taken. */
  take(): () => void;
}

/** Slots for at most `max` open identity-change streams of this process. */
export function createStreamSlots(max: number): StreamSlots {
  let open = 0;
  return {
    take() {
      if (open >= max) {
        throw new DomainError(
          "resource-exhausted",
          "TOO_MANY_IDENTITY_STREAMS",
          `this server already holds ${max} identity-change streams open (LAUNCHPAD_IDENTITY_MAX_STREAMS); retry later`,
          { retryAfterSeconds: 5 },
        );
      }
      open++;
      let given = false;
      return () => {
        if (given) return;
        given = true;
        open--;
      };
    },
  };
}
