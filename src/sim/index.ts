/**
 * The simulation layer: every source of nondeterminism in pocket-etcd (time, randomness,
 * the network between members), injectable so a seed and a manual clock replay a run.
 *
 * @module
 */

export type { Clock, TimerHandle, ManualClockOptions, RealClockOptions } from './clock.js'
export { ManualClock, RealClock } from './clock.js'
export { Random } from './random.js'
export type {
  DeliverFn,
  DropReason,
  NetworkEvent,
  NetworkEventBase,
  NetworkFaults,
  NetworkOptions,
  NetworkStats,
} from './network.js'
export { Network } from './network.js'
export type { SimulationHost } from './simulation.js'
export { Simulation, yieldToEventLoop } from './simulation.js'
