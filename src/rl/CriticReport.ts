/**
 * Does a trained critic tell good behaviour from bad? SWG's weight (and IDQL's and IQL's selection)
 * can only guide if the advantages A(s, a) = Q(s, a) − V(s) are larger on the better parts of the
 * data. The dataset's episodes are ranked by return and cut into groups of equal episode count; for
 * each group we report the share of its steps with A > 0 (the steps an expectile weight
 * w = |τ − 1(A < 0)| lifts to τ, the weight of SWG §4) and the mean advantage. Both rising with the
 * return means the weights point somewhere; flat rows mean guidance has no direction to follow.
 */
import type { Episode } from "../data/OfflineDataset.ts"

/** One group of episodes, ranked by return. */
export interface ReturnGroup {
  readonly episodes: number
  readonly steps: number
  readonly lowestReturn: number
  readonly highestReturn: number
  /** Mean episode return of the group. */
  readonly meanReturn: number
  /** Share of the group's steps with A > 0. */
  readonly positiveShare: number
  /** Mean advantage over the group's steps. */
  readonly meanAdvantage: number
}

/**
 * Episodes sorted by return (lowest first) and cut into `groups` groups of (nearly) equal episode
 * count; `advantages[i]` belongs to step i of the dataset the episodes index. Empty groups (fewer
 * episodes than groups) are left out.
 */
export const byEpisodeReturn = (
  episodes: ReadonlyArray<Episode>,
  advantages: ArrayLike<number>,
  groups: number
): Array<ReturnGroup> => {
  const ranked = [...episodes].sort((a, b) => a.return - b.return)
  const out: Array<ReturnGroup> = []
  for (let g = 0; g < groups; g++) {
    const members = ranked.slice(Math.floor((g * ranked.length) / groups), Math.floor(((g + 1) * ranked.length) / groups))
    if (members.length === 0) continue
    let steps = 0
    let positive = 0
    let advantageSum = 0
    let returnSum = 0
    for (const e of members) {
      returnSum += e.return
      for (let i = e.start; i < e.end; i++) {
        steps++
        advantageSum += advantages[i]
        if (advantages[i] > 0) positive++
      }
    }
    out.push({
      episodes: members.length,
      steps,
      lowestReturn: members[0].return,
      highestReturn: members[members.length - 1].return,
      meanReturn: returnSum / members.length,
      positiveShare: steps === 0 ? 0 : positive / steps,
      meanAdvantage: steps === 0 ? 0 : advantageSum / steps
    })
  }
  return out
}

/** The groups as a markdown table; `score` adds the normalised score of each group's mean return. */
export const markdown = (groups: ReadonlyArray<ReturnGroup>, score?: (episodeReturn: number) => number): string => {
  const header = ["episodes by return", "episodes", "steps", "mean return", ...(score ? ["score"] : []), "share A > 0", "mean A"]
  const rows = groups.map((g, i) => [
    `${i + 1}/${groups.length}: ${g.lowestReturn.toFixed(1)} … ${g.highestReturn.toFixed(1)}`,
    String(g.episodes),
    String(g.steps),
    g.meanReturn.toFixed(1),
    ...(score ? [score(g.meanReturn).toFixed(1)] : []),
    g.positiveShare.toFixed(3),
    g.meanAdvantage.toFixed(4)
  ])
  return [header, header.map(() => "---"), ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n")
}
