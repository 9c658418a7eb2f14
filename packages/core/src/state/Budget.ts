/**
 * What a run spends, and how much it may spend. A budget accumulates input
 * and output tokens, model steps, tool calls and cost (from a price table you
 * provide: core knows no prices), and stops the run with
 * `HarnessError.BudgetExceeded { limit, max, used }` at the first step that
 * would go over a limit.
 *
 * The budget is a service in the context: every harness that runs inside
 * `Budget.layer(...)` or `Budget.provide(...)` (an agent, the prompts it
 * calls, a summarizer) spends from the same one. Without a budget nothing is
 * counted and nothing is checked (the default is a no-op).
 *
 * Checks happen before a model call (on the steps so far plus one, and on the
 * tokens so far plus the caller's projection of the request's input tokens)
 * and after it (on the tokens and cost it reported). A price that is unknown
 * leaves the cost `undefined`, never zero; against a `cost` limit an unknown
 * price counts as infinite, so a run that cannot be priced cannot overspend.
 *
 * @example
 * ```ts
 * import { Budget, Harness } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * declare const ask: Harness.Harness<string, string, Harness.PromptError, never>
 *
 * const program = Effect.gen(function*() {
 *   const answer = yield* Harness.run(ask, "hello")
 *   const spent = yield* Budget.usage
 *   return { answer, tokens: spent.totalTokens }
 * }).pipe(Budget.provide({ limits: { totalTokens: 10_000, steps: 20 } }))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import * as HarnessError from "../harness/HarnessError.ts"
import type * as DirectModel from "../model/DirectModel.ts"
import { type Harness, make as make_ } from "../harness/internal/harness.ts"

/**
 * What was spent so far. `cost` is in US dollars, `undefined` when a call was
 * made to a model without a known price (or no pricing was given).
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
  readonly steps: number
  readonly toolCalls: number
  readonly cost: number | undefined
}

/**
 * The usage of nothing.
 *
 * @since 0.1.0
 */
export const emptyUsage: Usage = { inputTokens: 0, outputTokens: 0, totalTokens: 0, steps: 0, toolCalls: 0, cost: 0 }

/**
 * Limits on what a run may spend; leave one out for no limit. (The cap on a
 * run's model calls, retries included, is `maxModelCalls` of `Harness.retry`
 * and `Agent.make`.)
 *
 * @since 0.1.0
 */
export type Limits = { readonly [K in Exclude<HarnessError.BudgetLimit, "modelCalls">]?: number | undefined }

/**
 * The price of a model in US dollars per million tokens.
 *
 * @since 0.1.0
 */
export interface Price {
  readonly input: number
  readonly output: number
  /** The price of input tokens served from the provider's cache, when it differs. */
  readonly cachedInput?: number | undefined
}

/**
 * Looks up the price of a model; `undefined` means unknown (the cost becomes
 * unknown, not zero). `OpenAiModels.pricing` from `@effect-harness/openai` is one.
 *
 * @since 0.1.0
 */
export type Pricing = (model: string) => Price | undefined

/**
 * The cost of one call at a price, in US dollars.
 *
 * @example
 * ```ts
 * import { Budget } from "@effect-harness/core"
 *
 * Budget.costOf({ inputTokens: 1_000_000, outputTokens: 0 }, { input: 2.5, output: 10 }) // 2.5
 * ```
 *
 * @since 0.1.0
 */
export const costOf = (usage: DirectModel.Usage, price: Price): number => {
  const input = usage.inputTokens ?? 0
  const cached = Math.min(usage.cachedInputTokens ?? 0, input)
  const cachedPrice = price.cachedInput ?? price.input
  return ((input - cached) * price.input + cached * cachedPrice + (usage.outputTokens ?? 0) * price.output) / 1_000_000
}

/**
 * A budget: its limits, what was spent, and the checks harnesses call around
 * model and tool calls.
 *
 * @since 0.1.0
 */
export interface Service {
  /** False for the default no-op budget: callers skip their accounting. */
  readonly active: boolean
  readonly limits: Limits
  /** The price of a model, when known. */
  readonly price: (model: string | undefined) => Price | undefined
  readonly usage: Effect.Effect<Usage>
  /**
   * Reserves one model step, after checking that it and
   * `projectedInputTokens` (the caller's estimate of the request's input
   * tokens, 0 if it has none) fit the limits.
   */
  readonly reserveStep: (projectedInputTokens: number) => Effect.Effect<void, HarnessError.BudgetExceeded>
  /**
   * Adds what a model call reported (and one step with `step: true`, for
   * callers that did not reserve it). Never fails: follow with `check`.
   */
  readonly record: (
    usage: DirectModel.Usage,
    model: string | undefined,
    options?: { readonly step?: boolean | undefined }
  ) => Effect.Effect<void>
  /** Fails when what was spent is already over a limit. */
  readonly check: Effect.Effect<void, HarnessError.BudgetExceeded>
  /** Fails when one more model step (with that many input tokens) would go over a limit; reserves nothing. */
  readonly checkNext: (projectedInputTokens: number) => Effect.Effect<void, HarnessError.BudgetExceeded>
  /** Reserves `count` tool calls, or fails if they would exceed the limit. */
  readonly reserveToolCalls: (count: number) => Effect.Effect<void, HarnessError.BudgetExceeded>
}

const unlimited: Service = {
  active: false,
  limits: {},
  price: () => undefined,
  usage: Effect.succeed(emptyUsage),
  reserveStep: () => Effect.void,
  record: () => Effect.void,
  check: Effect.void,
  checkNext: () => Effect.void,
  reserveToolCalls: () => Effect.void
}

/**
 * The current budget. The default counts nothing and limits nothing.
 *
 * @since 0.1.0
 */
export const Budget = Context.Reference<Service>("@effect-harness/core/Budget", { defaultValue: () => unlimited })

/**
 * Options of a budget.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly limits?: Limits | undefined
  readonly pricing?: Pricing | undefined
  /** The model to price calls with when the provider does not name it. */
  readonly model?: string | undefined
}

const exceeded = (limit: HarnessError.BudgetLimit, max: number, used: number) =>
  Effect.fail(new HarnessError.BudgetExceeded({ limit, max, used }))

/**
 * Builds a fresh budget.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const limits = options.limits ?? {}
    const pricing = options.pricing
    // A plain mutable record: each check-and-update below runs in one
    // synchronous block, which is atomic on the JS thread, so fibers sharing
    // the budget cannot interleave between a check and its update.
    const state = { inputTokens: 0, outputTokens: 0, steps: 0, toolCalls: 0, cost: 0, costKnown: true }
    const snapshot = (): Usage => ({
      inputTokens: state.inputTokens,
      outputTokens: state.outputTokens,
      totalTokens: state.inputTokens + state.outputTokens,
      steps: state.steps,
      toolCalls: state.toolCalls,
      cost: state.costKnown ? state.cost : undefined
    })
    const price = (model: string | undefined) => {
      const name = model ?? options.model
      return name === undefined || pricing === undefined ? undefined : pricing(name)
    }
    const checkTokens = (input: number, output: number) => {
      if (limits.inputTokens !== undefined && input > limits.inputTokens) {
        return exceeded("inputTokens", limits.inputTokens, input)
      }
      if (limits.outputTokens !== undefined && output > limits.outputTokens) {
        return exceeded("outputTokens", limits.outputTokens, output)
      }
      if (limits.totalTokens !== undefined && input + output > limits.totalTokens) {
        return exceeded("totalTokens", limits.totalTokens, input + output)
      }
      return undefined
    }
    const costUsed = () => state.costKnown ? state.cost : Number.POSITIVE_INFINITY
    const checkNext = (projected: number) => {
      if (limits.steps !== undefined && state.steps + 1 > limits.steps) {
        return exceeded("steps", limits.steps, state.steps + 1)
      }
      const failed = checkTokens(state.inputTokens + projected, state.outputTokens)
      if (failed !== undefined) return failed
      // any call costs something: a spent cost budget stops the next one
      if (limits.cost !== undefined && costUsed() >= limits.cost) return exceeded("cost", limits.cost, costUsed())
      return undefined
    }
    const service: Service = {
      active: true,
      limits,
      price,
      usage: Effect.sync(snapshot),
      reserveStep: (projected) =>
        Effect.suspend(() => {
          const failed = checkNext(projected)
          if (failed !== undefined) return failed
          state.steps++
          return Effect.void
        }),
      checkNext: (projected) => Effect.suspend(() => checkNext(projected) ?? Effect.void),
      record: (usage, model, options) =>
        Effect.sync(() => {
          if (options?.step === true) state.steps++
          state.inputTokens += usage.inputTokens ?? 0
          state.outputTokens += usage.outputTokens ?? 0
          if (state.costKnown) {
            const known = price(model)
            if (known === undefined) state.costKnown = false
            else state.cost += costOf(usage, known)
          }
        }),
      check: Effect.suspend(() => {
        if (limits.steps !== undefined && state.steps > limits.steps) return exceeded("steps", limits.steps, state.steps)
        if (limits.toolCalls !== undefined && state.toolCalls > limits.toolCalls) {
          return exceeded("toolCalls", limits.toolCalls, state.toolCalls)
        }
        const failed = checkTokens(state.inputTokens, state.outputTokens)
        if (failed !== undefined) return failed
        if (limits.cost !== undefined && costUsed() > limits.cost) return exceeded("cost", limits.cost, costUsed())
        return Effect.void
      }),
      reserveToolCalls: (count) =>
        Effect.suspend(() => {
          if (limits.toolCalls !== undefined && state.toolCalls + count > limits.toolCalls) {
            return exceeded("toolCalls", limits.toolCalls, state.toolCalls + count)
          }
          state.toolCalls += count
          return Effect.void
        })
    }
    return service
  })

/**
 * A layer with a fresh budget: everything run with it spends from it.
 *
 * @example
 * ```ts
 * import { Budget } from "@effect-harness/core"
 *
 * const BudgetLive = Budget.layer({ limits: { totalTokens: 50_000, cost: 0.5 } })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<never> => Layer.effect(Budget, make(options))

/**
 * Runs an effect with a fresh budget of its own (one per run).
 *
 * @since 0.1.0
 */
export const provide = (options: Options = {}) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(make(options), (budget) => Effect.provideService(self, Budget, budget))

/**
 * Makes a harness respect the current budget in its type: it fails with
 * `BudgetExceeded` before it runs when one more model step would go over a
 * limit, and after it when it went over one. Harnesses built here (`Harness.prompt`, agents) always
 * record what they spend; agents also check at every step, and `guard` adds
 * the check around any other harness, such as a plain prompt.
 *
 * @example
 * ```ts
 * import { Budget, Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })
 * const bounded = Budget.guard(ask) // fails with BudgetExceeded once the budget is spent
 * ```
 *
 * @since 0.1.0
 */
export const guard = <In, Out, E, R>(
  self: Harness<In, Out, E, R>
): Harness<In, Out, E | HarnessError.BudgetExceeded, R> =>
  make_(self.name, (input: In) =>
    Effect.flatMap(Effect.service(Budget), (budget) =>
      budget.active
        ? budget.checkNext(0).pipe(Effect.andThen(self.run(input)), Effect.tap(budget.check))
        : self.run(input)))

/**
 * What the current budget has counted so far (all zeros without a budget).
 *
 * @since 0.1.0
 */
export const usage: Effect.Effect<Usage> = Effect.flatMap(Effect.service(Budget), (budget) => budget.usage)

/**
 * Adds two usages (for totals over several runs).
 *
 * @since 0.1.0
 */
export const sum = (self: Usage, that: Usage): Usage => ({
  inputTokens: self.inputTokens + that.inputTokens,
  outputTokens: self.outputTokens + that.outputTokens,
  totalTokens: self.totalTokens + that.totalTokens,
  steps: self.steps + that.steps,
  toolCalls: self.toolCalls + that.toolCalls,
  cost: self.cost === undefined || that.cost === undefined ? undefined : self.cost + that.cost
})
