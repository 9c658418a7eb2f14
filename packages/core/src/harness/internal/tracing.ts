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
