/**
 * When the harness makes spans: only when a tracer is installed
 * (`Effect.withTracer`, an OpenTelemetry layer). effect's default tracer
 * exports nowhere, and a span costs about as much as the rest of a model call
 * or agent step around it (entering and leaving it rebuilds the fiber's
 * context), so without an exporter the harness makes none.
 *
 * @internal
 */
import { Context, References, Tracer } from "effect"

export const isTraced = (services: Context.Context<never>): boolean =>
  Context.get(services, References.TracerEnabled) && Context.get(services, Tracer.Tracer) !== Tracer.nativeTracer

/**
 * What a span of model calls says about them (OpenTelemetry's GenAI
 * conventions): token counts, finish reasons, the model that answered, and
 * the cost in US dollars (`harness.cost_usd`, when the `Budget` knows the
 * model's price).
 */
export const usageAttributes = (
  usage: { readonly inputTokens?: number | undefined; readonly outputTokens?: number | undefined },
  finishReasons: ReadonlyArray<string>,
  model: string | undefined,
  cost: number | undefined
): Record<string, unknown> => ({
  "gen_ai.usage.input_tokens": usage.inputTokens ?? 0,
  "gen_ai.usage.output_tokens": usage.outputTokens ?? 0,
  "gen_ai.response.finish_reasons": finishReasons,
  ...(model === undefined ? {} : { "gen_ai.response.model": model }),
  ...(cost === undefined ? {} : { "harness.cost_usd": cost })
})

/** The provider and the requested model, as the span of a call or a run names them. */
export const requestAttributes = (
  providerName: string | undefined,
  model: string | undefined
): Record<string, unknown> => ({
  ...(providerName === undefined ? {} : { "gen_ai.provider.name": providerName }),
  ...(model === undefined ? {} : { "gen_ai.request.model": model })
})
