/**
 * Bounds on what one job may ask of the platform. Each comes with the reason a user reads in the error,
 * so that a refused number says what the platform can do instead of failing later in a worse place.
 */

/** A spec is read whole before it is parsed (HTTP body, queue message, blob); larger ones are refused unread. */
export const MAX_SPEC_BYTES = 256 * 1024;
