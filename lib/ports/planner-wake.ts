/**
 * Asks for a planner run soon, after a change that may need a replacement (a claim, a hand-back,
 * a failure): so that a claimed spare is replaced within seconds, not at the next scheduled
 * cycle. Implementations coalesce (many wakes, few runs). A failed wake loses nothing: the
 * schedule is the safety net.
 */
export interface PlannerWake {
  /** Requests a planner run; resolves once the request is made, not once the run is done. */
  wake(): Promise<void>;
}

/**
 * Starts a planner run in another process (in AWS, an asynchronous invocation of the planner
 * function); resolves once it is started, not once it is done.
 */
export type PlannerStarter = () => Promise<void>;
