/**
 * Who may run next to whom: group `max_running` and per-GPU VRAM budgets. Pure functions over
 * the scheduler's view, so the swap rules are testable without timers.
 */
export interface PlacementModel {
  name: string;
  group: string | undefined;
  gpus: string[];
  vramMb: number | undefined;
  pinned: boolean;
}

export interface PlacementView {
  groups: Record<string, { maxRunning: number }>;
  gpuBudgetMb: Record<string, number>;
}

/** Does `model` fit beside `occupying` (models holding a process or a promised slot)? */
export function fits(view: PlacementView, model: PlacementModel, occupying: PlacementModel[]): boolean {
  const others = occupying.filter((m) => m.name !== model.name);
  if (model.group !== undefined) {
    const limit = view.groups[model.group]?.maxRunning;
    if (limit !== undefined && others.filter((m) => m.group === model.group).length >= limit) return false;
  }
  for (const gpu of model.gpus) {
    const budget = view.gpuBudgetMb[gpu];
    if (budget === undefined || model.vramMb === undefined) continue;
    const used = others.filter((m) => m.gpus.includes(gpu)).reduce((sum, m) => sum + (m.vramMb ?? 0), 0);
    if (used + model.vramMb > budget) return false;
  }
  return true;
}

/** Shares a group or a budgeted GPU: evicting it can make room. */
export function conflicts(view: PlacementView, a: PlacementModel, b: PlacementModel): boolean {
  if (a.group !== undefined && a.group === b.group) return true;
  return a.gpus.some((gpu) => view.gpuBudgetMb[gpu] !== undefined && b.gpus.includes(gpu));
}

/**
 * The fewest victims, taken in `preference` order (idle first, then least recently used), after
 * which `model` fits; null when even evicting every candidate would not make room.
 */
export function chooseVictims<M extends PlacementModel>(
  view: PlacementView,
  model: PlacementModel,
  occupying: M[],
  preference: M[],
): M[] | null {
  const chosen: M[] = [];
  let rest = occupying;
  for (const candidate of preference) {
    if (fits(view, model, rest)) return chosen;
    if (candidate.pinned || candidate.name === model.name || !conflicts(view, model, candidate)) continue;
    chosen.push(candidate);
    rest = rest.filter((m) => m !== candidate);
  }
  return fits(view, model, rest) ? chosen : null;
}
