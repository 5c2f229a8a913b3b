import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Figure from "../../src/domain/Figure.ts"

interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: ReadonlyArray<XmlElement>
  /** Decoded character data directly inside the element. */
  readonly text: string
}

const entities: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'" }

const decode = (raw: string, at: number): string => {
  let out = ""
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (c === "<") throw new Error(`raw '<' in character data near ${at}`)
    if (c !== "&") {
      out += c
      continue
    }
    const end = raw.indexOf(";", i)
    if (end < 0) throw new Error(`unterminated entity near ${at}`)
    const name = raw.slice(i + 1, end)
    if (name.startsWith("#")) {
      const code = name[1] === "x" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1))
      if (!Number.isInteger(code)) throw new Error(`bad character reference &${name}; near ${at}`)
      out += String.fromCodePoint(code)
    } else if (name in entities) {
      out += entities[name]
    } else {
      throw new Error(`unknown entity &${name}; near ${at}`)
    }
    i = end
  }
  return out
}

const isNameChar = (c: string): boolean =>
  (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c === "-" || c === ":" || c === "_"

/**
 * A strict little XML reader for what Figure emits: elements, attributes in double quotes, character data with
 * entities. Throws on unbalanced or mismatched tags, unquoted or duplicate attributes, raw `<`/`&`, several roots.
 */
const parseXml = (xml: string): XmlElement => {
  interface Open {
    name: string
    attributes: Record<string, string>
    children: Array<XmlElement>
    text: string
  }
  const stack: Array<Open> = []
  let root: XmlElement | undefined
  let i = 0
  while (i < xml.length) {
    const lt = xml.indexOf("<", i)
    const chunk = decode(lt < 0 ? xml.slice(i) : xml.slice(i, lt), i)
    if (stack.length > 0) stack[stack.length - 1].text += chunk
    else if (chunk.trim() !== "") throw new Error(`text outside the root near ${i}`)
    if (lt < 0) break
    i = lt + 1
    const closing = xml[i] === "/"
    if (closing) i++
    let name = ""
    while (i < xml.length && isNameChar(xml[i])) name += xml[i++]
    if (name === "") throw new Error(`missing tag name near ${lt}`)
    if (closing) {
      if (xml[i] !== ">") throw new Error(`malformed end tag </${name} near ${lt}`)
      const open = stack.pop()
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name ?? "nothing"}> near ${lt}`)
      const element: XmlElement = open
      if (stack.length > 0) stack[stack.length - 1].children.push(element)
      else if (root === undefined) root = element
      else throw new Error("several root elements")
      i++
      continue
    }
    const attributes: Record<string, string> = {}
    for (;;) {
      while (xml[i] === " " || xml[i] === "\n") i++
      if (xml[i] === ">" || (xml[i] === "/" && xml[i + 1] === ">")) break
      let attribute = ""
      while (i < xml.length && isNameChar(xml[i])) attribute += xml[i++]
      if (attribute === "" || xml[i] !== "=" || xml[i + 1] !== "\"") throw new Error(`bad attribute in <${name}> near ${i}`)
      const end = xml.indexOf("\"", i + 2)
      if (end < 0) throw new Error(`unterminated attribute ${attribute} near ${i}`)
      if (attribute in attributes) throw new Error(`duplicate attribute ${attribute} in <${name}>`)
      attributes[attribute] = decode(xml.slice(i + 2, end), i)
      i = end + 1
    }
    const element: Open = { name, attributes, children: [], text: "" }
    if (xml[i] === "/") {
      if (stack.length > 0) stack[stack.length - 1].children.push(element)
      else if (root === undefined) root = element
      else throw new Error("several root elements")
      i += 2
    } else {
      stack.push(element)
      i += 1
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1].name}>`)
  if (root === undefined) throw new Error("no root element")
  return root
}

const descendants = (element: XmlElement): Array<XmlElement> =>
  element.children.flatMap((child) => [child, ...descendants(child)])

const byClass = (root: XmlElement, className: string): Array<XmlElement> =>
  descendants(root).filter((e) => e.attributes.class === className)

const named = (elements: ReadonlyArray<XmlElement>, name: string): Array<XmlElement> =>
  elements.flatMap((e) => [e, ...descendants(e)]).filter((e) => e.name === name)

/** All character data under `element`, tspans included. */
const textOf = (element: XmlElement): string => element.text + element.children.map(textOf).join("")

const num = (element: XmlElement, attribute: string): number => {
  const value = Number(element.attributes[attribute])
  if (!Number.isFinite(value)) throw new Error(`<${element.name}> has no numeric ${attribute}`)
  return value
}

const tickOffsets = (axis: XmlElement): Array<{ readonly x: number; readonly y: number; readonly label: string }> =>
  axis.children.filter((e) => e.attributes.class === "tick").map((tick) => {
    const match = /^translate\(([-\d.]+),([-\d.]+)\)$/.exec(tick.attributes.transform)
    if (match === null) throw new Error(`bad tick transform ${tick.attributes.transform}`)
    const label = tick.children.find((c) => c.name === "text")
    return { x: Number(match[1]), y: Number(match[2]), label: label === undefined ? "" : textOf(label) }
  })

/** `n` points [n, 2] on a circle of radius `r` around (cx, cy). */
const ring = (n: number, cx: number, cy: number, r: number): Float64Array => {
  const points = new Float64Array(2 * n)
  for (let i = 0; i < n; i++) {
    points[2 * i] = cx + r * Math.cos((2 * Math.PI * i) / n)
    points[2 * i + 1] = cy + r * Math.sin((2 * Math.PI * i) / n)
  }
  return points
}

const isNiceStep = (step: number): boolean => {
  const mantissa = step / 10 ** Math.floor(Math.log10(step))
  return [1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-6 * m)
}

describe("Figure.escapeXml", () => {
  it("escapes the five markup characters and drops control characters", () => {
    expect(Figure.escapeXml(`a<b>&"c'\u0001d`)).toBe("a&lt;b&gt;&amp;&quot;c&#39;d")
  })

  it("round-trips any title through the SVG", () => {
    const unit = fc.constantFrom("<", ">", "&", "\"", "'", "a", " ", "β", "&amp;", "]]>", "\u0007")
    fc.assert(fc.property(fc.string({ unit, minLength: 1, maxLength: 30 }), (title) => {
      const svg = parseXml(Figure.lineChart({ title, series: [{ name: title, x: [0, 1], y: [0, 1] }] }))
      const titleText = named([svg], "text").find((t) => t.attributes["font-weight"] === "bold")
      expect(titleText === undefined ? undefined : textOf(titleText)).toBe(title.replaceAll("\u0007", ""))
    }))
  })
})

describe("Figure.niceTicks", () => {
  it("gives 1/2/5 steps with round labels on concrete ranges", () => {
    expect(Figure.niceTicks(0, 1)).toEqual({
      scale: "linear",
      min: 0,
      max: 1,
      values: [0, 0.2, 0.4, 0.6, 0.8, 1],
      minor: [],
      labels: ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    })
    const wide = Figure.niceTicks(-3.7, 12.1)
    expect(wide.values).toEqual([-4, -2, 0, 2, 4, 6, 8, 10, 12, 14])
    expect(wide.labels[0]).toBe("\u22124")
    expect(Figure.niceTicks(-0.0012, -0.0003).values).toEqual([-0.0012, -0.001, -0.0008, -0.0006, -0.0004, -0.0002])
    expect(Figure.niceTicks(2e-7, 9e-7).labels).toEqual(["2e\u22127", "3e\u22127", "4e\u22127", "5e\u22127", "6e\u22127", "7e\u22127", "8e\u22127", "9e\u22127"])
    expect(Figure.niceTicks(1e6, 1.2e6).labels).toEqual(["1.00e6", "1.05e6", "1.10e6", "1.15e6", "1.20e6"])
  })

  it("widens a constant series around its value", () => {
    expect(Figure.niceTicks(0, 0).values).toEqual([-1, -0.5, 0, 0.5, 1])
    expect(Figure.niceTicks(5, 5).values).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6])
  })

  const range = fc.oneof(
    // any sign, any scale
    fc.tuple(fc.double({ min: -10, max: 10, noNaN: true }), fc.double({ min: -10, max: 10, noNaN: true }), fc.integer({ min: -15, max: 15 }))
      .map(([a, b, e]) => [a * 10 ** e, b * 10 ** e] as const),
    // tiny width relative to the value
    fc.tuple(fc.double({ min: -1e4, max: 1e4, noNaN: true }), fc.double({ min: 1e-7, max: 1e-3, noNaN: true }))
      .map(([c, w]) => [c, c + Math.max(Math.abs(c), 1e-3) * w] as const),
    // constant
    fc.double({ min: -1e8, max: 1e8, noNaN: true }).map((c) => [c, c] as const)
  )

  it("covers the data with evenly spaced nice values and distinct labels", () => {
    fc.assert(fc.property(range, fc.integer({ min: 2, max: 10 }), ([a, b], target) => {
      const ticks = Figure.niceTicks(a, b, target)
      const { values } = ticks
      const [low, high] = [Math.min(a, b), Math.max(a, b)]
      expect(values.length).toBeGreaterThanOrEqual(2)
      expect(values.length).toBeLessThanOrEqual(2.5 * target + 3)
      expect(ticks.min).toBe(values[0])
      expect(ticks.max).toBe(values[values.length - 1])
      expect(values[0]).toBeLessThanOrEqual(low)
      expect(values[values.length - 1]).toBeGreaterThanOrEqual(high)
      const step = values[1] - values[0]
      expect(isNiceStep(step)).toBe(true)
      for (let i = 0; i < values.length; i++) {
        const k = values[i] / step
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-6 * Math.max(1, Math.abs(k)))
        if (i > 0) expect(Math.abs(values[i] - values[i - 1] - step)).toBeLessThan(1e-6 * step)
      }
      expect(new Set(ticks.labels).size).toBe(values.length)
    }), { numRuns: 2000 })
  })

  it("ticksWithin keeps the domain and puts nice values inside it", () => {
    expect(Figure.ticksWithin(-4.3, 4.6, 3)).toMatchObject({ min: -4.3, max: 4.6, values: [-4, -2, 0, 2, 4] })
    fc.assert(fc.property(range, ([a, b]) => {
      const ticks = Figure.ticksWithin(a, b, 4)
      expect(ticks.values.length).toBeGreaterThanOrEqual(1)
      for (const v of ticks.values) {
        expect(v).toBeGreaterThanOrEqual(ticks.min)
        expect(v).toBeLessThanOrEqual(ticks.max)
      }
    }))
  })
})

describe("Figure.logTicks", () => {
  it("puts ticks at whole decades covering the range", () => {
    expect(Figure.logTicks(0.003, 250)).toEqual({
      scale: "log",
      min: 0.001,
      max: 1000,
      values: [0.001, 0.01, 0.1, 1, 10, 100, 1000],
      minor: [],
      labels: ["10^\u22123", "10^\u22122", "10^\u22121", "10^0", "10^1", "10^2", "10^3"]
    })
    expect(Figure.logTicks(2, 30)).toMatchObject({ values: [1, 10, 100], minor: [2, 3, 4, 5, 6, 7, 8, 9, 20, 30, 40, 50, 60, 70, 80, 90] })
    expect(Figure.logTicks(1e-9, 1e9).values).toEqual([1e-9, 1e-6, 1e-3, 1, 1e3, 1e6, 1e9])
  })

  it("covers any positive range with at most 9 powers of ten", () => {
    const positive = fc.double({ min: 1e-12, max: 1e12, noNaN: true })
    fc.assert(fc.property(positive, positive, (a, b) => {
      const { values } = Figure.logTicks(a, b)
      expect(values[0]).toBeLessThanOrEqual(Math.min(a, b))
      expect(values[values.length - 1]).toBeGreaterThanOrEqual(Math.max(a, b))
      expect(values.length).toBeGreaterThanOrEqual(2)
      expect(values.length).toBeLessThanOrEqual(9)
      const exponents = values.map((v) => Math.log10(v))
      for (const e of exponents) expect(e).toBeCloseTo(Math.round(e), 9)
      const stride = exponents[1] - exponents[0]
      for (let i = 1; i < exponents.length; i++) expect(exponents[i] - exponents[i - 1]).toBeCloseTo(stride, 9)
    }), { numRuns: 300 })
  })
})

describe("Figure.lineChart", () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]

  it("draws one line, one marker per point, a band per errored series and a legend entry per series", () => {
    const svg = parseXml(Figure.lineChart({
      title: "curves",
      xLabel: "step",
      yLabel: "score",
      series: [
        { name: "SWG", x, y: x.map((v) => v * v), error: x.map(() => 2) },
        { name: "IQL", x, y: x.map((v) => 3 * v), dashed: true },
        { name: "BC", x, y: x.map(() => 20) }
      ]
    }))
    expect(svg.name).toBe("svg")
    expect(svg.attributes).toMatchObject({ width: "640", height: "400", "font-family": "DejaVu Sans" })
    expect(svg.children[0]).toMatchObject({ name: "rect", attributes: { fill: "white" } })
    const markers = byClass(svg, "markers")
    expect(markers.map((g) => g.attributes.fill)).toEqual(Figure.palette.slice(0, 3))
    expect(markers.map((g) => named([g], "circle").length)).toEqual([10, 10, 10])
    expect(byClass(svg, "band")).toHaveLength(1)
    const legend = byClass(svg, "legend")
    expect(legend).toHaveLength(1)
    expect(named(legend, "text").map(textOf)).toEqual(["SWG", "IQL", "BC"])
    const texts = named([svg], "text").map(textOf)
    expect(texts).toEqual(expect.arrayContaining(["curves", "step", "score"]))
  })

  it("puts markers exactly on their tick positions", () => {
    const svg = parseXml(Figure.lineChart({ series: [{ name: "only", x: [0, 4, 10], y: [0, 40, 100] }] }))
    const xTicks = tickOffsets(byClass(svg, "axis-x")[0])
    const yTicks = tickOffsets(byClass(svg, "axis-y")[0])
    const circles = named(byClass(svg, "markers"), "circle")
    const xAt = (label: string) => xTicks.find((t) => t.label === label)?.x
    const yAt = (label: string) => yTicks.find((t) => t.label === label)?.y
    expect(circles.map((c) => num(c, "cx"))).toEqual([xAt("0"), xAt("4"), xAt("10")])
    expect(circles.map((c) => num(c, "cy"))).toEqual([yAt("0"), yAt("40"), yAt("100")])
    expect(circles.every((c) => c.attributes.cx !== undefined)).toBe(true)
    expect(byClass(svg, "legend")).toHaveLength(0)
  })

  it("breaks the line at non-finite points", () => {
    const svg = Figure.lineChart({ series: [{ name: "gap", x, y: x.map((v) => (v === 5 ? Number.NaN : v)) }], markers: false })
    const line = named([parseXml(svg)], "path").find((p) => p.attributes["stroke-width"] === "2")
    const d = line?.attributes.d ?? ""
    expect(d.split("M").length - 1).toBe(2)
    expect(d.split("L").length - 1).toBe(7)
    expect(svg).not.toContain("NaN")
  })

  it("puts decades at equal spacing on a log y axis", () => {
    const depth = [1, 2, 4, 8, 16, 32, 64]
    const svg = parseXml(Figure.lineChart({
      yScale: "log",
      xScale: "log",
      series: [{ name: "time", x: depth, y: depth.map((d) => 0.004 * d ** 2) }, { name: "unit", x: [1, 10], y: [0.01, 10] }]
    }))
    const yTicks = tickOffsets(byClass(svg, "axis-y")[0])
    expect(yTicks.map((t) => t.label)).toEqual(["10\u22123", "10\u22122", "10\u22121", "100", "101", "102"])
    const gaps = yTicks.slice(1).map((t, i) => yTicks[i].y - t.y)
    for (const gap of gaps) expect(Math.abs(gap - gaps[0])).toBeLessThanOrEqual(0.15)
    expect(gaps[0]).toBeGreaterThan(20)
    const unitMarkers = named(byClass(svg, "markers"), "circle").slice(depth.length)
    expect(unitMarkers.map((c) => num(c, "cy"))).toEqual([yTicks[1].y, yTicks[4].y])
    const xTicks = tickOffsets(byClass(svg, "axis-x")[0])
    expect(unitMarkers.map((c) => num(c, "cx"))).toEqual([xTicks[0].x, xTicks[1].x])
  })

  it("stays well-formed with no data", () => {
    const svg = parseXml(Figure.lineChart({ series: [] }))
    expect(byClass(svg, "markers")).toHaveLength(0)
    expect(tickOffsets(byClass(svg, "axis-y")[0]).length).toBeGreaterThanOrEqual(2)
  })
})

describe("Figure.barChart", () => {
  it("draws one bar per finite value, heights proportional to values, and error bars", () => {
    const svg = parseXml(Figure.barChart({
      title: "scores",
      groups: ["hopper", "walker2d", "halfcheetah"],
      series: [
        { name: "SWG", values: [80, 40, 20], errors: [5, 2, 1] },
        { name: "IQL", values: [60, Number.NaN, 10] }
      ]
    }))
    const bars = byClass(svg, "bars")
    expect(bars.map((g) => g.attributes.fill)).toEqual(Figure.palette.slice(0, 2))
    const [swg, iql] = bars.map((g) => named([g], "rect"))
    expect([swg.length, iql.length]).toEqual([3, 2])
    const heights = swg.map((r) => num(r, "height"))
    expect(heights[0] / heights[1]).toBeCloseTo(2, 2)
    expect(heights[0] / heights[2]).toBeCloseTo(4, 2)
    const yTicks = tickOffsets(byClass(svg, "axis-y")[0])
    const zero = yTicks.find((t) => t.label === "0")
    expect(zero).toBeDefined()
    for (const bar of [...swg, ...iql]) expect(num(bar, "y") + num(bar, "height")).toBeCloseTo(zero?.y ?? Number.NaN, 0)
    const errorBars = byClass(svg, "error-bars")[0].attributes.d
    expect(errorBars.split("M").length - 1).toBe(9)
    expect(named(byClass(svg, "legend"), "text").map(textOf)).toEqual(["SWG", "IQL"])
    expect(descendants(svg).filter((e) => e.name === "text").map(textOf)).toEqual(
      expect.arrayContaining(["hopper", "walker2d", "halfcheetah", "scores"])
    )
  })

  it("hangs negative bars below the zero line", () => {
    const svg = parseXml(Figure.barChart({ groups: ["a", "b"], series: [{ name: "s", values: [2, -1] }] }))
    const [up, down] = named(byClass(svg, "bars"), "rect")
    expect(num(up, "y") + num(up, "height")).toBeCloseTo(num(down, "y"), 0)
    expect(num(up, "height") / num(down, "height")).toBeCloseTo(2, 2)
    expect(byClass(svg, "legend")).toHaveLength(0)
  })
})

describe("Figure.scatterGrid", () => {
  it("draws one circle per finite point, inside its panel, coloured by row", () => {
    const sizes = [[10, 20, 30], [40, 50, 60]]
    const panels = sizes.map((row, r) => row.map((n, c) => ring(n, c, r, 1 + c)))
    panels[1][2][6] = Number.NaN
    const svg = parseXml(Figure.scatterGrid({
      title: "SWG vs target",
      panels,
      columnTitles: ["β = 1", "β = 3", "β = 10"],
      rowLabels: ["SWG samples", "exact target"]
    }))
    const groups = byClass(svg, "points")
    expect(groups.map((g) => named([g], "circle").length)).toEqual([10, 20, 30, 40, 50, 59])
    expect(groups.map((g) => g.attributes.fill)).toEqual([0, 0, 0, 1, 1, 1].map((r) => Figure.palette[r]))
    const frames = svg.children.filter((e) => e.name === "rect" && e.attributes.fill === "none")
    expect(frames).toHaveLength(6)
    groups.forEach((g, p) => {
      const frame = frames[p]
      const [x0, y0, size] = [num(frame, "x"), num(frame, "y"), num(frame, "width")]
      for (const c of named([g], "circle")) {
        expect(num(c, "cx")).toBeGreaterThanOrEqual(x0)
        expect(num(c, "cx")).toBeLessThanOrEqual(x0 + size)
        expect(num(c, "cy")).toBeGreaterThanOrEqual(y0)
        expect(num(c, "cy")).toBeLessThanOrEqual(y0 + size)
      }
    })
    const texts = named([svg], "text").map(textOf)
    expect(texts).toEqual(expect.arrayContaining(["SWG vs target", "β = 1", "β = 3", "β = 10", "SWG samples", "exact target"]))
  })

  it("shares limits across panels by default and labels only the outer axes", () => {
    const svg = parseXml(Figure.scatterGrid({ panels: [[ring(50, 0, 0, 1), ring(50, 3, 0, 1)], [ring(50, 0, 0, 4), ring(50, 0, 0, 1)]] }))
    const xAxes = byClass(svg, "axis-x").map(tickOffsets)
    const labels = xAxes.map((ticks) => ticks.map((t) => t.label))
    expect(labels[0].every((l) => l === "")).toBe(true)
    expect(labels[2]).toEqual(labels[3])
    expect(labels[2].length).toBeGreaterThanOrEqual(2)
    const offsets = (ticks: ReadonlyArray<{ readonly x: number }>) => ticks.map((t) => Math.round((t.x - ticks[0].x) * 10))
    expect(offsets(xAxes[0])).toEqual(offsets(xAxes[1]))
  })

  it("uses explicit limits and drops points outside them", () => {
    const points = Float64Array.from([0, 0, 0.5, 0.5, 2, 0, 0, -2])
    const svg = parseXml(Figure.scatterGrid({ panels: [[points]], limits: { x: { min: -1, max: 1 }, y: { min: -1, max: 1 } } }))
    expect(named(byClass(svg, "points"), "circle")).toHaveLength(2)
    expect(tickOffsets(byClass(svg, "axis-x")[0]).map((t) => t.label)).toEqual(["\u22121.0", "\u22120.5", "0", "0.5", "1.0"])
  })

  it("says in each panel how many points it did not draw, and only there", () => {
    const limits = { x: { min: -1, max: 1 }, y: { min: -1, max: 1 } }
    const inside = Float64Array.from([0, 0, 0.5, 0.5, -0.9, 0.9])
    const beyond = Float64Array.from([0, 0, 94, 3, 0, -1.5, 0.2, 0.1, Number.NaN, 0])
    const svg = parseXml(Figure.scatterGrid({ panels: [[inside, beyond]], limits }))
    const notes = byClass(svg, "outside-count")
    expect(notes.map(textOf)).toEqual(["2 of 5 outside, 1 non-finite"])
    // the note sits in the second panel's frame, not the first's
    const frames = svg.children.filter((e) => e.name === "rect" && e.attributes.fill === "none")
    const x = num(notes[0], "x")
    expect(x).toBeGreaterThan(num(frames[1], "x"))
    expect(x).toBeLessThanOrEqual(num(frames[1], "x") + num(frames[1], "width"))
    // shared limits frame every finite point: nothing to report
    expect(byClass(parseXml(Figure.scatterGrid({ panels: [[inside, beyond]] })), "outside-count").map(textOf)).toEqual(["1 non-finite"])
  })

  it("gives each panel its own ticks with independent limits", () => {
    const svg = parseXml(Figure.scatterGrid({ panels: [[ring(50, 0, 0, 1), ring(50, 0, 0, 1000)]], limits: "independent" }))
    const [a, b] = byClass(svg, "axis-y").map((axis) => tickOffsets(axis).map((t) => t.label))
    expect(a).toContain("1")
    expect(b).toContain("1000")
  })

  it("keeps 5000 points per panel under 45 bytes each", () => {
    const n = 5000
    const cloud = new Float32Array(2 * n)
    for (let i = 0; i < 2 * n; i++) cloud[i] = Math.sin(i * 12.9898) * 43758.5453 % 3
    const svg = Figure.scatterGrid({ panels: [[cloud, cloud], [cloud, cloud]] })
    expect(named(byClass(parseXml(svg), "points"), "circle")).toHaveLength(4 * n)
    expect(svg.length / (4 * n)).toBeLessThan(45)
  })
})
