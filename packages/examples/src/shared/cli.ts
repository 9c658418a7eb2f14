/**
 * Command-line plumbing shared by the examples: flags, the one-line error,
 * and the entry point that runs a program with `NodeRuntime.runMain`.
 *
 * An example's user should never see a stack trace for something they can
 * fix: every expected failure becomes an `ExampleError`, whose message is one
 * line saying what is wrong and what to do, printed on stderr before the
 * process exits with a non-zero code.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Option, Schema } from "effect"
import { parseArgs, type ParseArgsConfig } from "node:util"

/**
 * A failure the user can act on: `message` is one line, what is wrong and
 * what to do about it.
 */
export class ExampleError extends Schema.TaggedError<ExampleError>()("ExampleError", {
  message: Schema.String
}) {}

/** Prints a line on stdout. */
export const say = (line = ""): Effect.Effect<void> => Effect.sync(() => void process.stdout.write(`${line}\n`))

/** One line, whatever the text: newlines and runs of spaces collapsed, long texts cut. */
export const oneLine = (text: string, max = 400): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

type Options = NonNullable<ParseArgsConfig["options"]>

/**
 * Parses the flags of `process.argv`; an unknown flag or a missing value is
 * an `ExampleError` naming it, with the usage line.
 */
export const flags = <const O extends Options>(options: O, usage: string) =>
  Effect.try({
    try: () => parseArgs({ args: process.argv.slice(2), options, allowPositionals: false, strict: true }).values,
    catch: (error) => new ExampleError({ message: `${oneLine((error as Error).message)}. Usage: ${usage}` })
  })

/** A positive integer flag, or an `ExampleError`. */
export const positiveInt = (name: string, value: string | undefined, fallback: number) =>
  Effect.suspend(() => {
    if (value === undefined) return Effect.succeed(fallback)
    const n = Number(value)
    return Number.isInteger(n) && n > 0
      ? Effect.succeed(n)
      : Effect.fail(new ExampleError({ message: `--${name} must be a positive integer, got "${value}"` }))
  })

const describeUnknown = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return `Unexpected error: ${oneLine(text)} (a bug in the example; please report it)`
}

/**
 * Runs an example's main program. Failures are explained by `explain` (one
 * line on stderr, exit code 1); an interruption (Ctrl-C) exits with 130 after
 * the program's own finalizers and `onInterrupt` handlers ran.
 */
export const runMain = <A, E>(program: Effect.Effect<A, E>, explain: (error: E) => string): void =>
  NodeRuntime.runMain(
    program.pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.sync(() => {
          const error = Cause.findErrorOption(cause)
          const line = Option.isSome(error) ? oneLine(explain(error.value)) : describeUnknown(cause)
          process.stderr.write(`error: ${line}\n`)
        })
      )
    ),
    // the line above is the whole report: no pretty-printed cause, no stack
    { disableErrorReporting: true }
  )
