/**
 * Canonical JSON for comparing step requests: object keys sorted, so the
 * same request always reads the same, whatever order its keys were built in.
 *
 * @internal
 */

const sorted = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sorted)
  if (value === null || typeof value !== "object") return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort()) {
    const field = (value as Record<string, unknown>)[key]
    if (field !== undefined) out[key] = sorted(field)
  }
  return out
}

export const canonicalJson = (value: unknown): string => JSON.stringify(sorted(value)) ?? "null"

/** A request as error messages show it: at most 200 characters. */
export const preview = (json: string): string => json.length > 200 ? `${json.slice(0, 200)}…` : json
