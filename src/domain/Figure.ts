/**
 * Figures as standalone SVG strings: grids of 2-D scatter panels, line charts with error bands and log axes,
 * grouped bar charts with error bars. Pure: data in, markup out. Ticks sit at 1/2/5 × 10^k, colours come from
 * one fixed categorical palette, text is DejaVu Sans on a white background, and coordinates are rounded to 0.1 px.
 */

/** A 2-D point cloud [n, 2], row-major. */
export type Points = Float32Array | Float64Array

/** A closed interval of data values. */
export interface Range {
  readonly min: number
  readonly max: number
}

/** How an axis maps data to pixels. */
export type Scale = "linear" | "log"

/** Categorical palette (matplotlib's tab10), used in order for series, bar groups and scatter rows. */
export const palette: ReadonlyArray<string> = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf"
]

/** The palette colour for the `index`-th series, cycling. */
export const colorAt = (index: number): string => palette[index % palette.length]

/** Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values, and drops characters XML 1.0 forbids. */
export const escapeXml = (text: string): string =>
  text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/[&<>"']/g, (c) => xmlEntities[c])

/**
 * Ticks along one axis. `min`/`max` is the drawn domain; `values` are the labelled ticks inside it, `minor` the
 * unlabelled ones (2…9 × 10^k on log axes with few decades). Log labels read `10^k` and are drawn with `k` raised.
 */
export interface Ticks {
  readonly scale: Scale
  readonly min: number
  readonly max: number
  readonly values: ReadonlyArray<number>
  readonly minor: ReadonlyArray<number>
  readonly labels: ReadonlyArray<string>
}

/**
 * Linear ticks whose domain is widened to whole steps, so the first tick is ≤ `min` and the last ≥ `max`. The step
 * is 1, 2 or 5 × 10^k, chosen for about `target` intervals. A (near-)constant range is widened by 10% of its
 * value first (by 1 around zero, |value| < 1e-200); non-finite bounds or span give the domain [0, 1].
 */
export const niceTicks = (min: number, max: number, target = 5): Ticks => linearTicks(min, max, target, true)

/**
 * Linear ticks at 1/2/5 × 10^k inside a fixed domain [`min`, `max`] (for axis limits given by the caller); a
 * (near-)constant domain is widened as in `niceTicks`.
 */
export const ticksWithin = (min: number, max: number, target = 5): Ticks => linearTicks(min, max, target, false)

/**
 * Log-scale ticks at powers of ten, the domain widened to whole decades around the positive range
 * [`min`, `max`]. Wide spans label every `stride`-th decade, the smallest stride giving at most 9 ticks.
 */
export const logTicks = (min: number, max: number): Ticks => {
  const finite = Number.isFinite(min) && Number.isFinite(max) && min > 0 && max > 0
  let low = finite ? decadeBelow(Math.min(min, max)) : 0
  let high = finite ? decadeAbove(Math.max(min, max)) : 1
  if (high <= low) high = low + 1
  let stride = 1
  while (Math.ceil(high / stride) - Math.floor(low / stride) > 8) stride++
  low = Math.floor(low / stride) * stride
  high = Math.ceil(high / stride) * stride
  const values: Array<number> = []
  const labels: Array<string> = []
  for (let k = low; k <= high; k += stride) {
    values.push(powerOfTen(k))
    labels.push(`10^${minusSign(String(k))}`)
  }
  const minor: Array<number> = []
  if (stride === 1 && high - low <= 4) {
    for (let k = low; k < high; k++) for (let m = 2; m <= 9; m++) minor.push(m * powerOfTen(k))
  }
  return { scale: "log", min: powerOfTen(low), max: powerOfTen(high), values, minor, labels }
}

/** Options for `scatterGrid`. */
export interface ScatterGridOptions {
  /** Panels by row, then column: `panels[row][column]` is a point cloud [n, 2]. */
  readonly panels: ReadonlyArray<ReadonlyArray<Points>>
  /** Headers above the columns, e.g. `β = 1`. */
  readonly columnTitles?: ReadonlyArray<string>
  /** Labels left of the rows, e.g. `SWG samples`, `exact target`. */
  readonly rowLabels?: ReadonlyArray<string>
  readonly title?: string
  /**
   * Axis limits: `"shared"` (default) spans the union of all finite points plus a 5% margin, `"independent"` does
   * that per panel, and an explicit `{ x, y }` applies to every panel. Points outside the limits are not drawn;
   * the panel then says how many in its top right corner (`k of n outside`, and `m non-finite`).
   */
  readonly limits?: "shared" | "independent" | { readonly x: Range; readonly y: Range }
  /** Side of a square panel in px (default 180). */
  readonly panelSize?: number
  /** Point radius in px (default 1.2). */
  readonly pointRadius?: number
  /** Point fill opacity (default 0.35), so dense regions read darker. */
  readonly pointOpacity?: number
}

/**
 * A grid of 2-D scatter panels (rows × columns), one `<circle>` per drawn point, coloured by row. With shared
 * limits only the bottom row and left column carry tick labels.
 */
export const scatterGrid = (options: ScatterGridOptions): string => {
  const rows = options.panels.length
  const columns = Math.max(0, ...options.panels.map((row) => row.length))
  const size = options.panelSize ?? 180
  const radius = options.pointRadius ?? 1.2
  const opacity = options.pointOpacity ?? 0.35
  const limitsOption = options.limits ?? "shared"
  const independent = limitsOption === "independent"
  const shared = limitsOption === "shared"
    ? paddedBounds(options.panels.flat())
    : limitsOption === "independent"
    ? undefined
    : limitsOption
  const limitsOf = (points: Points): { readonly x: Range; readonly y: Range } =>
    shared ?? paddedBounds([points])

  const tickTarget = Math.max(2, Math.round(size / 60))
  const ticksOf = (points: Points) => {
    const limits = limitsOf(points)
    return {
      x: ticksWithin(limits.x.min, limits.x.max, tickTarget),
      y: ticksWithin(limits.y.min, limits.y.max, tickTarget)
    }
  }
  const allTicks = options.panels.map((row) => row.map(ticksOf))
  const yLabelWidth = Math.max(
    0,
    ...allTicks.flat().flatMap((ticks) => ticks.y.labels.map((label) => textWidth(label, fontSize.tick)))
  )

  const rowLabelBand = options.rowLabels === undefined ? 0 : fontSize.label + 12
  const left = 12 + rowLabelBand + yLabelWidth + tickLength + 4
  const top = 12 + (options.title === undefined ? 0 : fontSize.title + 14) +
    (options.columnTitles === undefined ? 0 : fontSize.label + 8)
  const tickBand = tickLength + fontSize.tick + 6
  const gapX = independent ? yLabelWidth + tickLength + 16 : 12
  const gapY = independent ? tickBand + 10 : 12
  const width = left + columns * size + (columns - 1) * gapX + 16
  const height = top + rows * size + (rows - 1) * gapY + tickBand + 12

  const parts: Array<string> = []
  if (options.title !== undefined) parts.push(title(width / 2, 12 + fontSize.title, options.title))
  options.panels.forEach((row, r) => {
    const y0 = top + r * (size + gapY)
    if (options.rowLabels?.[r] !== undefined) {
      const cx = 12 + fontSize.label
      const cy = y0 + size / 2
      parts.push(
        `<text x="${px(cx)}" y="${px(cy)}" transform="rotate(-90 ${px(cx)} ${px(cy)})" text-anchor="middle"` +
          ` font-size="${fontSize.label}">${escapeXml(options.rowLabels[r])}</text>`
      )
    }
    row.forEach((points, c) => {
      const x0 = left + c * (size + gapX)
      const ticks = allTicks[r][c]
      const x = axisMap(ticks.x, x0, x0 + size)
      const y = axisMap(ticks.y, y0 + size, y0)
      if (r === 0 && options.columnTitles?.[c] !== undefined) {
        parts.push(
          `<text x="${px(x0 + size / 2)}" y="${px(y0 - 8)}" text-anchor="middle" font-size="${fontSize.label}">` +
            `${escapeXml(options.columnTitles[c])}</text>`
        )
      }
      parts.push(
        `<rect x="${px(x0)}" y="${px(y0)}" width="${px(size)}" height="${px(size)}" fill="none" stroke="${ink.frame}"/>`
      )
      const labelX = independent || r === rows - 1
      const labelY = independent || c === 0
      parts.push(xAxis(ticks.x, x, y0 + size, labelX), yAxis(ticks.y, y, x0, labelY))
      const drawn = scatterPoints(points, ticks, x, y, colorAt(r), radius, opacity)
      parts.push(drawn.markup, hiddenNote(x0 + size, y0, Math.floor(points.length / 2), drawn.outside, drawn.nonFinite))
    })
  })
  return document(width, height, parts)
}

/** One line of a `lineChart`. */
export interface LineSeries {
  readonly name: string
  readonly x: ArrayLike<number>
  readonly y: ArrayLike<number>
  /** Half-width of the shaded band y ± error at each point, e.g. a standard error. */
  readonly error?: ArrayLike<number>
  /** Overrides the palette colour for this series. */
  readonly color?: string
  readonly dashed?: boolean
}

/** Options for `lineChart`. */
export interface LineChartOptions {
  readonly series: ReadonlyArray<LineSeries>
  readonly title?: string
  readonly xLabel?: string
  readonly yLabel?: string
  readonly xScale?: Scale
  readonly yScale?: Scale
  /** Draw a `<circle>` at every point (default: when no series has more than 30 points). */
  readonly markers?: boolean
  /** Total size in px (default 640 × 400), legend included. */
  readonly width?: number
  readonly height?: number
}

/**
 * Lines through (x, y) for each series, with optional y ± error bands, log axes and a legend on the right when
 * there are several series. Non-finite points (and non-positive ones on a log axis) break the line.
 */
export const lineChart = (options: LineChartOptions): string => {
  const width = options.width ?? 640
  const height = options.height ?? 400
  const xLog = options.xScale === "log"
  const yLog = options.yScale === "log"
  const series = options.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i), points: linePoints(s, xLog, yLog) }))
  const markers = options.markers ?? series.every((s) => s.points.length <= 30)

  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.flatMap((p) => [p.low, p.high]))
  const legend = series.length > 1 ? legendBlock(series.map((s) => ({ ...s, swatch: "line" as const }))) : undefined
  const frame = plotFrame({ width, height, options, legendWidth: legend?.width ?? 0 })
  const plotHeight = frame.bottom - frame.top
  const yTicks = yLog ? logTicks(minOf(ys), maxOf(ys)) : niceTicks(minOf(ys), maxOf(ys), Math.max(2, Math.round(plotHeight / 50)))
  const left = frame.leftFor(yTicks)
  const xTicks = xLog
    ? logTicks(minOf(xs), maxOf(xs))
    : niceTicks(minOf(xs), maxOf(xs), Math.max(2, Math.round((frame.right - left) / 90)))
  const x = axisMap(xTicks, left, frame.right)
  const y = axisMap(yTicks, frame.bottom, frame.top)

  const parts: Array<string> = [
    grid(xTicks, yTicks, x, y, left, frame.right, frame.top, frame.bottom),
    ...series.map((s) => band(s.points, x, y, s.color)),
    ...series.map((s) =>
      `<path d="${segmentsPath(s.points, x, y)}" fill="none" stroke="${s.color}" stroke-width="2"` +
      ` stroke-linejoin="round"${s.dashed === true ? ` stroke-dasharray="6 4"` : ""}/>`
    ),
    ...(markers
      ? series.map((s) =>
        `<g class="markers" fill="${s.color}">` +
        s.points.map((p) => `<circle cx="${px(x(p.x))}" cy="${px(y(p.y))}" r="3"/>`).join("") + "</g>"
      )
      : []),
    axesLines(left, frame.right, frame.top, frame.bottom),
    xAxis(xTicks, x, frame.bottom, true),
    yAxis(yTicks, y, left, true),
    ...frame.labels(left, yTicks)
  ]
  if (legend !== undefined) parts.push(legend.draw(frame.right + 16, frame.top))
  return document(width, height, parts)
}

/** One set of bars in a `barChart`: a value (and optional error) per group. */
export interface BarSeries {
  readonly name: string
  readonly values: ArrayLike<number>
  /** Half-length of the error bar on each bar, e.g. a standard error. */
  readonly errors?: ArrayLike<number>
  /** Overrides the palette colour for this series. */
  readonly color?: string
}

/** Options for `barChart`. */
export interface BarChartOptions {
  /** Category labels along x, e.g. tasks. */
  readonly groups: ReadonlyArray<string>
  /** One bar per group per series, e.g. methods. */
  readonly series: ReadonlyArray<BarSeries>
  readonly title?: string
  readonly xLabel?: string
  readonly yLabel?: string
  /** Total size in px (default 640 × 400), legend included. */
  readonly width?: number
  readonly height?: number
}

/**
 * Grouped bars from a zero baseline with optional error bars, one `<rect class="bar">` per finite value, and a
 * legend on the right when there are several series. Group labels tilt when they do not fit under their group.
 */
export const barChart = (options: BarChartOptions): string => {
  const width = options.width ?? 640
  const height = options.height ?? 400
  const series = options.series.map((s, i) => ({ ...s, color: s.color ?? colorAt(i) }))
  const groups = options.groups.length
  const values = series.flatMap((s) =>
    Array.from({ length: groups }, (_, g) => {
      const v = s.values[g]
      const e = errorAt(s.errors, g)
      return [v - e, v + e]
    }).flat()
  ).filter(Number.isFinite)
  const legend = series.length > 1 ? legendBlock(series.map((s) => ({ ...s, swatch: "box" as const }))) : undefined

  const labelWidth = Math.max(0, ...options.groups.map((g) => textWidth(g, fontSize.tick)))
  const roughGroupWidth = (width - 100 - (legend === undefined ? 0 : legend.width + 16)) / Math.max(1, groups)
  const tilted = labelWidth > roughGroupWidth - 6
  const groupLabelBand = tilted ? labelWidth * tilt.sin + fontSize.tick * tilt.cos + 6 : fontSize.tick + 6
  const frame = plotFrame({ width, height, options, legendWidth: legend?.width ?? 0, xBand: groupLabelBand })
  const plotHeight = frame.bottom - frame.top
  const yTicks = niceTicks(Math.min(0, minOf(values)), Math.max(0, maxOf(values)), Math.max(2, Math.round(plotHeight / 50)))
  const half = 1 / (2 * Math.max(1, groups))
  const overhang = tilted ? (labelWidth * tilt.cos + 12 - frame.right * half) / (1 - half) : 0
  const left = Math.max(frame.leftFor(yTicks), overhang)
  const y = axisMap(yTicks, frame.bottom, frame.top)
  const groupWidth = (frame.right - left) / Math.max(1, groups)
  const barWidth = (groupWidth * 0.8) / Math.max(1, series.length)

  const parts: Array<string> = [grid(undefined, yTicks, undefined, y, left, frame.right, frame.top, frame.bottom)]
  const errorBars: Array<string> = []
  series.forEach((s, i) => {
    const bars: Array<string> = []
    for (let g = 0; g < groups; g++) {
      const v = s.values[g]
      if (!Number.isFinite(v)) continue
      const x0 = left + g * groupWidth + groupWidth * 0.1 + i * barWidth
      const top = Math.min(y(v), y(0))
      bars.push(
        `<rect class="bar" x="${px(x0 + 0.5)}" y="${px(top)}" width="${px(Math.max(0, barWidth - 1))}"` +
          ` height="${px(Math.abs(y(v) - y(0)))}"/>`
      )
      const e = errorAt(s.errors, g)
      if (e > 0) {
        const cx = x0 + barWidth / 2
        const cap = Math.min(barWidth * 0.25, 6)
        const [hi, lo] = [y(v + e), y(v - e)]
        errorBars.push(
          `M${px(cx)} ${px(hi)}V${px(lo)}M${px(cx - cap)} ${px(hi)}H${px(cx + cap)}M${px(cx - cap)} ${px(lo)}H${px(cx + cap)}`
        )
      }
    }
    parts.push(`<g class="bars" fill="${s.color}">${bars.join("")}</g>`)
  })
  if (errorBars.length > 0) {
    parts.push(`<path class="error-bars" d="${errorBars.join("")}" fill="none" stroke="${ink.text}" stroke-width="1.2"/>`)
  }
  parts.push(
    `<line x1="${px(left)}" y1="${px(y(0))}" x2="${px(frame.right)}" y2="${px(y(0))}" stroke="${ink.axis}"/>`,
    `<line x1="${px(left)}" y1="${px(frame.top)}" x2="${px(left)}" y2="${px(frame.bottom)}" stroke="${ink.axis}"/>`,
    yAxis(yTicks, y, left, true)
  )
  options.groups.forEach((label, g) => {
    const cx = left + (g + 0.5) * groupWidth
    const ty = frame.bottom + tickLength + fontSize.tick + 2
    parts.push(
      tilted
        ? `<text x="${px(cx)}" y="${px(ty)}" transform="rotate(-30 ${px(cx)} ${px(ty)})" text-anchor="end"` +
          ` font-size="${fontSize.tick}">${escapeXml(label)}</text>`
        : `<text x="${px(cx)}" y="${px(ty)}" text-anchor="middle" font-size="${fontSize.tick}">${escapeXml(label)}</text>`
    )
  })
  parts.push(...frame.labels(left, yTicks))
  if (legend !== undefined) parts.push(legend.draw(frame.right + 16, frame.top))
  return document(width, height, parts)
}

// internal

const xmlEntities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

const fontSize = { title: 15, label: 13, tick: 11, legend: 12 } as const
const ink = { text: "#222222", axis: "#444444", frame: "#999999", grid: "#e6e6e6" } as const
const tickLength = 5
const tilt = { sin: Math.sin(Math.PI / 6), cos: Math.cos(Math.PI / 6) } as const

/** A pixel coordinate rounded to 0.1, without `-0`. */
const px = (value: number): string => {
  const rounded = Math.round(value * 10) / 10
  return rounded === 0 ? "0" : String(rounded)
}

/** Advance width of `text` in DejaVu Sans at `size`, estimated (the font averages about 0.6 em per glyph). */
const textWidth = (text: string, size: number): number => text.length * size * 0.62

const minusSign = (text: string): string => text.replace(/-/g, "\u2212")

const powerOfTen = (k: number): number => Number(`1e${k}`)

/** The largest k with 10^k ≤ value (log10 alone can be off by one next to a power of ten). */
const decadeBelow = (value: number): number => {
  const k = Math.floor(Math.log10(value))
  return powerOfTen(k) > value ? k - 1 : powerOfTen(k + 1) <= value ? k + 1 : k
}

/** The smallest k with 10^k ≥ value. */
const decadeAbove = (value: number): number => {
  const k = Math.ceil(Math.log10(value))
  return powerOfTen(k) < value ? k + 1 : powerOfTen(k - 1) >= value ? k - 1 : k
}

const minOf = (values: ReadonlyArray<number>): number => values.reduce((a, b) => Math.min(a, b), Infinity)
const maxOf = (values: ReadonlyArray<number>): number => values.reduce((a, b) => Math.max(a, b), -Infinity)

const linearTicks = (min: number, max: number, target: number, widen: boolean): Ticks => {
  let low = Math.min(min, max)
  let high = Math.max(min, max)
  if (!Number.isFinite(high - low)) [low, high] = [0, 1]
  const magnitude = Math.max(Math.abs(low), Math.abs(high))
  if (high - low <= Math.max(magnitude * 1e-9, 1e-200)) {
    const pad = magnitude < 1e-200 ? 1 : magnitude * 0.1
    low -= pad
    high += pad
  }
  const raw = (high - low) / Math.max(1, target)
  let exponent = Math.floor(Math.log10(raw))
  const fraction = raw / 10 ** exponent
  let mantissa = fraction < Math.SQRT2 ? 1 : fraction < Math.sqrt(10) ? 2 : fraction < Math.sqrt(50) ? 5 : 10
  if (mantissa === 10) [mantissa, exponent] = [1, exponent + 1]
  const at = (k: number): number => exponent < 0 ? (k * mantissa) / 10 ** -exponent : k * mantissa * 10 ** exponent
  const step = at(1)
  let first: number
  let last: number
  if (widen) {
    first = Math.floor(low / step + 1e-9)
    last = Math.ceil(high / step - 1e-9)
    if (at(first) > low) first -= 1
    if (at(last) < high) last += 1
  } else {
    first = Math.ceil(low / step - 1e-9)
    last = Math.floor(high / step + 1e-9)
    if (at(first) < low) first += 1
    if (at(last) > high) last -= 1
  }
  const values: Array<number> = []
  for (let k = first; k <= last; k++) values.push(at(k) + 0)
  const reach = Math.max(Math.abs(low), Math.abs(high))
  const scientific = reach >= 1e6 || reach < 1e-4
  const labels = values.map((v) => minusSign(formatLinear(v, exponent, scientific)))
  return widen
    ? { scale: "linear", min: at(first) + 0, max: at(last) + 0, values, minor: [], labels }
    : { scale: "linear", min: low, max: high, values, minor: [], labels }
}

const formatLinear = (value: number, exponent: number, scientific: boolean): string => {
  if (value === 0) return "0"
  if (!scientific) return value.toFixed(Math.max(0, -exponent))
  const digits = Math.max(0, Math.floor(Math.log10(Math.abs(value)) + 1e-9) - exponent)
  return value.toExponential(Math.min(20, digits)).replace("e+", "e")
}

/** Maps data values on `ticks`' domain to pixels, `from` at `ticks.min` and `to` at `ticks.max`. */
const axisMap = (ticks: Ticks, from: number, to: number): (value: number) => number => {
  const transform = ticks.scale === "log" ? Math.log10 : (v: number) => v
  const a = transform(ticks.min)
  const b = transform(ticks.max)
  const perUnit = (to - from) / (b - a)
  return (value) => from + (transform(value) - a) * perUnit
}

const document = (width: number, height: number, parts: ReadonlyArray<string>): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}"` +
  ` viewBox="0 0 ${px(width)} ${px(height)}" font-family="DejaVu Sans" fill="${ink.text}">\n` +
  `<rect width="100%" height="100%" fill="white"/>\n` +
  parts.filter((p) => p.length > 0).join("\n") +
  "\n</svg>\n"

const title = (x: number, y: number, text: string): string =>
  `<text x="${px(x)}" y="${px(y)}" text-anchor="middle" font-size="${fontSize.title}" font-weight="bold">` +
  `${escapeXml(text)}</text>`

/** Tick label markup: plain text, or `10` with a raised exponent for log labels. */
const tickLabel = (label: string): string => {
  const caret = label.indexOf("^")
  if (caret < 0) return escapeXml(label)
  return `${escapeXml(label.slice(0, caret))}<tspan dy="-5" font-size="${fontSize.tick - 2}">` +
    `${escapeXml(label.slice(caret + 1))}</tspan>`
}

const xAxis = (ticks: Ticks, x: (v: number) => number, y0: number, labelled: boolean): string => {
  const marks = ticks.values.map((v, i) =>
    `<g class="tick" transform="translate(${px(x(v))},${px(y0)})"><line y2="${tickLength}" stroke="${ink.axis}"/>` +
    (labelled ? `<text y="${tickLength + fontSize.tick + 2}" text-anchor="middle">${tickLabel(ticks.labels[i])}</text>` : "") +
    "</g>"
  )
  const minor = ticks.minor.map((v) =>
    `<line class="minor-tick" x1="${px(x(v))}" y1="${px(y0)}" x2="${px(x(v))}" y2="${px(y0 + 3)}" stroke="${ink.axis}"/>`
  )
  return `<g class="axis-x" font-size="${fontSize.tick}">${[...marks, ...minor].join("")}</g>`
}

const yAxis = (ticks: Ticks, y: (v: number) => number, x0: number, labelled: boolean): string => {
  const marks = ticks.values.map((v, i) =>
    `<g class="tick" transform="translate(${px(x0)},${px(y(v))})"><line x2="${-tickLength}" stroke="${ink.axis}"/>` +
    (labelled
      ? `<text x="${-tickLength - 3}" y="${px(fontSize.tick * 0.35)}" text-anchor="end">${tickLabel(ticks.labels[i])}</text>`
      : "") +
    "</g>"
  )
  const minor = ticks.minor.map((v) =>
    `<line class="minor-tick" x1="${px(x0)}" y1="${px(y(v))}" x2="${px(x0 - 3)}" y2="${px(y(v))}" stroke="${ink.axis}"/>`
  )
  return `<g class="axis-y" font-size="${fontSize.tick}">${[...marks, ...minor].join("")}</g>`
}

const grid = (
  xTicks: Ticks | undefined,
  yTicks: Ticks,
  x: ((v: number) => number) | undefined,
  y: (v: number) => number,
  left: number,
  right: number,
  top: number,
  bottom: number
): string => {
  const vertical = xTicks === undefined || x === undefined
    ? []
    : xTicks.values.map((v) => `M${px(x(v))} ${px(top)}V${px(bottom)}`)
  const horizontal = yTicks.values.map((v) => `M${px(left)} ${px(y(v))}H${px(right)}`)
  return `<path class="grid" d="${[...vertical, ...horizontal].join("")}" stroke="${ink.grid}" fill="none"/>`
}

const axesLines = (left: number, right: number, top: number, bottom: number): string =>
  `<path d="M${px(left)} ${px(top)}V${px(bottom)}H${px(right)}" fill="none" stroke="${ink.axis}"/>`

/** Margins of a chart with a plot area, a title, axis labels and an optional legend column on the right. */
const plotFrame = (input: {
  readonly width: number
  readonly height: number
  readonly options: { readonly title?: string; readonly xLabel?: string; readonly yLabel?: string }
  readonly legendWidth: number
  readonly xBand?: number
}) => {
  const { height, legendWidth, options, width } = input
  const xBand = input.xBand ?? tickLength + fontSize.tick + 6
  const top = 14 + (options.title === undefined ? 0 : fontSize.title + 14)
  const bottom = height - 10 - xBand - (options.xLabel === undefined ? 0 : fontSize.label + 10)
  const right = width - 16 - (legendWidth > 0 ? legendWidth + 16 : 0)
  const yLabelBand = options.yLabel === undefined ? 0 : fontSize.label + 10
  return {
    top,
    bottom,
    right,
    /** The plot's left edge once the y tick labels are known. */
    leftFor: (yTicks: Ticks): number => 12 + yLabelBand + tickLength + 5 + tickLabelsWidth(yTicks),
    /** Title and axis labels, centred on the plot area; the y label sits just left of the y tick labels. */
    labels: (left: number, yTicks: Ticks): Array<string> => {
      const plotWidth = right - left
      const parts: Array<string> = []
      const cx = left + plotWidth / 2
      if (options.title !== undefined) parts.push(title(cx, 14 + fontSize.title, options.title))
      if (options.xLabel !== undefined) {
        parts.push(
          `<text x="${px(cx)}" y="${px(height - 12)}" text-anchor="middle" font-size="${fontSize.label}">` +
            `${escapeXml(options.xLabel)}</text>`
        )
      }
      if (options.yLabel !== undefined) {
        const lx = left - tickLength - 5 - tickLabelsWidth(yTicks) - 8
        const ly = (top + bottom) / 2
        parts.push(
          `<text x="${px(lx)}" y="${px(ly)}" transform="rotate(-90 ${px(lx)} ${px(ly)})" text-anchor="middle"` +
            ` font-size="${fontSize.label}">${escapeXml(options.yLabel)}</text>`
        )
      }
      return parts
    }
  }
}

const tickLabelsWidth = (ticks: Ticks): number =>
  Math.max(0, ...ticks.labels.map((label) => textWidth(label.replace("^", ""), fontSize.tick)))

/** A legend column: a swatch and a name per entry, drawn with its top-left corner at (x, y). */
const legendBlock = (
  entries: ReadonlyArray<{ readonly name: string; readonly color: string; readonly swatch: "line" | "box"; readonly dashed?: boolean }>
) => {
  const rowHeight = fontSize.legend + 8
  const swatch = 22
  const width = swatch + 8 + Math.max(0, ...entries.map((e) => textWidth(e.name, fontSize.legend)))
  return {
    width,
    draw: (x: number, y: number): string =>
      `<g class="legend" font-size="${fontSize.legend}">` +
      entries.map((e, i) => {
        const cy = y + i * rowHeight + rowHeight / 2
        const mark = e.swatch === "line"
          ? `<line x1="${px(x)}" y1="${px(cy)}" x2="${px(x + swatch)}" y2="${px(cy)}" stroke="${e.color}"` +
            ` stroke-width="2"${e.dashed === true ? ` stroke-dasharray="6 4"` : ""}/>`
          : `<rect x="${px(x + 4)}" y="${px(cy - 6)}" width="14" height="12" fill="${e.color}"/>`
        return mark +
          `<text x="${px(x + swatch + 8)}" y="${px(cy + fontSize.legend * 0.35)}">${escapeXml(e.name)}</text>`
      }).join("") +
      "</g>"
  }
}

interface LinePoint {
  readonly x: number
  readonly y: number
  readonly low: number
  readonly high: number
  /** Whether the line continues from the previous drawable point. */
  readonly joined: boolean
}

/** The drawable points of a series; a skipped point ends the current segment. */
const linePoints = (series: LineSeries, xLog: boolean, yLog: boolean): Array<LinePoint> => {
  const n = Math.min(series.x.length, series.y.length)
  const points: Array<LinePoint> = []
  let joined = false
  for (let i = 0; i < n; i++) {
    const x = series.x[i]
    const y = series.y[i]
    const ok = Number.isFinite(x) && Number.isFinite(y) && (!xLog || x > 0) && (!yLog || y > 0)
    if (!ok) {
      joined = false
      continue
    }
    const e = errorAt(series.error, i)
    const low = yLog && y - e <= 0 ? y : y - e
    points.push({ x, y, low, high: y + e, joined })
    joined = true
  }
  return points
}

const errorAt = (errors: ArrayLike<number> | undefined, i: number): number => {
  const e = errors?.[i]
  return e !== undefined && Number.isFinite(e) ? Math.abs(e) : 0
}

const segmentsPath = (points: ReadonlyArray<LinePoint>, x: (v: number) => number, y: (v: number) => number): string =>
  points.map((p) => `${p.joined ? "L" : "M"}${px(x(p.x))} ${px(y(p.y))}`).join("")

/** The shaded y ± error area of a series, one closed polygon per unbroken segment. */
const band = (
  points: ReadonlyArray<LinePoint>,
  x: (v: number) => number,
  y: (v: number) => number,
  color: string
): string => {
  if (points.every((p) => p.low === p.y && p.high === p.y)) return ""
  const segments: Array<Array<LinePoint>> = []
  for (const p of points) {
    if (!p.joined || segments.length === 0) segments.push([])
    segments[segments.length - 1].push(p)
  }
  const d = segments.map((segment) =>
    segment.map((p, i) => `${i === 0 ? "M" : "L"}${px(x(p.x))} ${px(y(p.high))}`).join("") +
    segment.toReversed().map((p) => `L${px(x(p.x))} ${px(y(p.low))}`).join("") + "Z"
  ).join("")
  return `<path class="band" d="${d}" fill="${color}" fill-opacity="0.2" stroke="none"/>`
}

/** Bounds of the finite points of several clouds, widened by 5% per side (by 0.5 when a side is constant). */
const paddedBounds = (clouds: ReadonlyArray<Points>): { readonly x: Range; readonly y: Range } => {
  let [xMin, xMax, yMin, yMax] = [Infinity, -Infinity, Infinity, -Infinity]
  for (const points of clouds) {
    for (let i = 0; i + 1 < points.length; i += 2) {
      const [u, v] = [points[i], points[i + 1]]
      if (!Number.isFinite(u) || !Number.isFinite(v)) continue
      xMin = Math.min(xMin, u)
      xMax = Math.max(xMax, u)
      yMin = Math.min(yMin, v)
      yMax = Math.max(yMax, v)
    }
  }
  const pad = (min: number, max: number): Range => {
    if (min > max) return { min: 0, max: 1 }
    const margin = max > min ? (max - min) * 0.05 : 0.5
    return { min: min - margin, max: max + margin }
  }
  return { x: pad(xMin, xMax), y: pad(yMin, yMax) }
}

/** The point markup of one panel, and how many points it could not draw: finite ones beyond the frame, non-finite ones. */
const scatterPoints = (
  points: Points,
  ticks: { readonly x: Ticks; readonly y: Ticks },
  x: (v: number) => number,
  y: (v: number) => number,
  color: string,
  radius: number,
  opacity: number
): { readonly markup: string; readonly outside: number; readonly nonFinite: number } => {
  const r = String(radius)
  const circles: Array<string> = []
  let outside = 0
  let nonFinite = 0
  for (let i = 0; i + 1 < points.length; i += 2) {
    const [u, v] = [points[i], points[i + 1]]
    if (!Number.isFinite(u) || !Number.isFinite(v)) {
      nonFinite++
      continue
    }
    if (!(u >= ticks.x.min && u <= ticks.x.max && v >= ticks.y.min && v <= ticks.y.max)) {
      outside++
      continue
    }
    circles.push(`<circle cx="${px(x(u))}" cy="${px(y(v))}" r="${r}"/>`)
  }
  return { markup: `<g class="points" fill="${color}" fill-opacity="${opacity}">${circles.join("")}</g>`, outside, nonFinite }
}

/** `12 of 2000 outside` (and `3 non-finite`) in the panel's top right corner, when any point was not drawn. */
const hiddenNote = (right: number, top: number, total: number, outside: number, nonFinite: number): string => {
  const parts = [
    ...(outside > 0 ? [`${outside} of ${total} outside`] : []),
    ...(nonFinite > 0 ? [`${nonFinite} non-finite`] : [])
  ]
  if (parts.length === 0) return ""
  return `<text class="outside-count" x="${px(right - 4)}" y="${px(top + 4 + fontSize.tick)}" text-anchor="end"` +
    ` font-size="${fontSize.tick}" fill="${ink.text}">${escapeXml(parts.join(", "))}</text>`
}
