import { describe, expect, it } from "vitest"
import { rotation, rotationCycle } from "../src/measure.ts"

// Counts, over one cycle of rounds, how often each side runs in each position
// and right after each other side.
const tally = (sides: number) => {
  const names = Array.from({ length: sides }, (_, k) => `side${k}`)
  const positions = new Map<string, number>()
  const successions = new Map<string, number>()
  const orders: Array<ReadonlyArray<string>> = []
  for (let round = 0; round < rotationCycle(sides); round++) {
    const order = rotation(names, round)
    orders.push(order)
    order.forEach((name, position) => positions.set(`${name}@${position}`, (positions.get(`${name}@${position}`) ?? 0) + 1))
    for (let k = 1; k < order.length; k++) {
      const pair = `${order[k - 1]}>${order[k]}`
      successions.set(pair, (successions.get(pair) ?? 0) + 1)
    }
  }
  return { names, positions, successions, orders }
}

describe("rotation", () => {
  it.each([2, 3, 4, 5, 6, 7])("with %i sides, every round runs each side once", (sides) => {
    const { names, orders } = tally(sides)
    for (const order of orders) expect([...order].sort()).toEqual([...names].sort())
  })

  it.each([2, 3, 4, 5, 6, 7])("with %i sides, each side runs in each position equally often over a cycle", (sides) => {
    const { positions } = tally(sides)
    expect(positions.size).toBe(sides * sides)
    expect(new Set(positions.values())).toEqual(new Set([rotationCycle(sides) / sides]))
  })

  it.each([2, 3, 4, 5, 6, 7])("with %i sides, each side runs right after each other side equally often over a cycle", (sides) => {
    const { successions } = tally(sides)
    // (a side that always followed the same neighbour would pay for that neighbour's garbage)
    expect(successions.size).toBe(sides * (sides - 1))
    expect(new Set(successions.values()).size).toBe(1)
  })

  it("repeats after a cycle", () => {
    const names = ["raw", "ours", "vercel"]
    expect(rotation(names, 1 + rotationCycle(3))).toEqual(rotation(names, 1))
  })
})
