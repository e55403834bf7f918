// How many worker processes a router runs: router-main's --workers and slipway
// server's --router-workers. Two keep serving when one dies (docs/router.md).

/** Worker processes a router runs unless told otherwise. */
export const DEFAULT_ROUTER_WORKERS = 2;
/** At most. */
export const MAX_ROUTER_WORKERS = 64;
