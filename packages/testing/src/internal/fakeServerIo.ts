/**
 * Small helpers of `FakeOpenAiServer`'s HTTP handling.
 *
 * @internal
 */
import { Duration } from "effect"

export const millis = (input: Duration.Input | undefined) =>
  input === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(input))

export const parse = (text: string): unknown => {
  if (text.length === 0) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

