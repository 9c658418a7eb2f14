/**
 * The harness value itself, shared by `Harness` and the harness builders that
 * `Harness` re-exports.
 *
 * @internal
 */
import type { Effect } from "effect"
import { type Pipeable, pipeArguments } from "effect/Pipeable"

export const TypeId = "~@effect-harness/core/Harness" as const

export interface Harness<in In, out Out, out E = never, out R = never> extends Pipeable {
  readonly [TypeId]: typeof TypeId
  readonly name: string
  readonly run: (input: In) => Effect.Effect<Out, E, R>
}

const HarnessProto = {
  [TypeId]: TypeId,
  pipe() {
    return pipeArguments(this, arguments)
  }
}

export const make = <In, Out, E = never, R = never>(
  name: string,
  run: (input: In) => Effect.Effect<Out, E, R>
): Harness<In, Out, E, R> => {
  const self = Object.create(HarnessProto)
  self.name = name
  self.run = run
  return self
}

export const isHarness = (u: unknown): u is Harness<any, any, any, any> =>
  typeof u === "object" && u !== null && TypeId in u
