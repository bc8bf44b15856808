/**
 * The optimizer base, as `torch.optim.Optimizer`: parameter groups with their own hyperparameters,
 * per-parameter state, and a state dict that lets training resume exactly.
 *
 * Updates run outside the autograd graph: `step()` writes parameter data in place (the one place a
 * tensor's data changes after creation, see tensor.ts). Each update is computed per element in float64
 * and stored in float32; the state buffers (momentum, moments) are float32 as PyTorch's, so a run that
 * is saved and resumed continues bit for bit.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt, ShapeError } from '../tensor/shape.js';

/** Hyperparameters every optimizer has; subclasses extend this with their own. */
export interface GroupOptions {
  /** Learning rate. Schedulers change it between steps by writing `group.lr`. */
  lr: number;
  /** Weight decay coefficient (its meaning, L2 or decoupled, is the optimizer's). */
  weightDecay: number;
}

/** A parameter group as the optimizer keeps it: its parameters and every hyperparameter filled in. */
export type ParamGroup<O extends GroupOptions = GroupOptions> = O & { params: Tensor[] };

/** A parameter group as given to a constructor: hyperparameters left out take the optimizer's defaults. */
export type ParamGroupSpec<O extends GroupOptions = GroupOptions> = Partial<O> & { params: Iterable<Tensor> };

/** What an optimizer takes: a list of parameters (one group), or a list of groups. */
export type Params<O extends GroupOptions = GroupOptions> = Iterable<Tensor> | readonly ParamGroupSpec<O>[];

/** One parameter's optimizer state: buffers of the parameter's shape, and counters. */
export type ParamState = Record<string, Tensor | number>;

/**
 * A snapshot of the optimizer, as PyTorch's `state_dict()`: parameters are named by their index over
 * all groups in order (so it can be loaded into an optimizer over a fresh model of the same layout);
 * tensors are copies, so later steps do not change a saved snapshot.
 */
export interface OptimizerStateDict {
  /** Parameter index -> its state (absent for parameters that have not been stepped yet). */
  state: Record<number, ParamState>;
  /** Each group's hyperparameters, with `params` as indices instead of tensors. */
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

/** Copies a hyperparameter value so that a snapshot does not share arrays (betas) with a live group. */
function copyValue(v: unknown): unknown {
  return Array.isArray(v) ? [...v] : v;
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  readonly defaults: Readonly<O>;
  /** Per-parameter state, created lazily on a parameter's first step (as PyTorch). */
  protected readonly state = new Map<Tensor, ParamState>();

  /**
   * @param name the optimizer's name, for error messages
   * @param params parameters (one group) or groups of parameters with their own hyperparameters
   * @param defaults every hyperparameter, for groups that do not set it
   */
  protected constructor(readonly name: string, params: Params<O>, defaults: O) {
    this.defaults = Object.freeze({ ...defaults });
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<O>>)];
    const specs: ParamGroupSpec<O>[] = list.every((x) => x instanceof Tensor)
      ? [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>]
      : list.map((x, i) => {
          if (x instanceof Tensor || typeof x !== 'object' || x === null || !('params' in x)) {
            throw new Error(`${name}: params must be all tensors or all parameter groups ({ params, ...options }); element ${i} is neither`);
          }
          return x;
        });
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, gi) => {
      const ps = [...spec.params];
      ps.forEach((p, pi) => {
        if (!(p instanceof Tensor)) throw new Error(`${name}: group ${gi} parameter ${pi} is not a Tensor`);
        // A non-leaf would have its data rewritten under the graph that made it; PyTorch refuses it too.
        if (p.node !== null) throw new Error(`${name}: group ${gi} parameter ${pi} ${fmt(p.shape)} is not a leaf (it was made by '${p.node.op}'); optimize the leaf tensors`);
        if (seen.has(p)) throw new Error(`${name}: group ${gi} parameter ${pi} ${fmt(p.shape)} appears more than once; each parameter may be in one group only`);
        seen.add(p);
      });
      const group = { ...defaults } as ParamGroup<O>;
      for (const [k, v] of Object.entries(spec)) if (k !== 'params' && v !== undefined) (group as unknown as Record<string, unknown>)[k] = copyValue(v);
      group.params = ps;
      this.validate(group, `group ${gi}`);
      return group;
    });
    if (seen.size === 0) throw new Error(`${name}: got an empty parameter list`);
  }

  /** Throws if a group's hyperparameters are out of range; `where` names the group. */
  protected validate(group: O, where: string): void {
    check(this.name, where, 'lr', group.lr, group.lr >= 0);
    check(this.name, where, 'weightDecay', group.weightDecay, group.weightDecay >= 0);
  }

  /** Clears every parameter's gradient (to null, as PyTorch 2's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.zeroGrad();
  }

  /** One update of every parameter that has a gradient; parameters whose `.grad` is null are skipped. */
  abstract step(): void;

  /** The gradient of `p` as float32 values, checked against its shape; null when it has none. */
  protected gradOf(p: Tensor): Float32Array | null {
    if (p.grad === null) return null;
    if (p.grad.shape.join() !== p.shape.join()) {
      throw new ShapeError(`${this.name}.step: parameter ${fmt(p.shape)} has a gradient of shape ${fmt(p.grad.shape)}`);
    }
    return p.grad.data;
  }

  /** A snapshot of state and hyperparameters (see OptimizerStateDict). */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamState> = {};
    const paramGroups: OptimizerStateDict['paramGroups'] = [];
    let index = 0;
    for (const group of this.paramGroups) {
      const indices: number[] = [];
      for (const p of group.params) {
        const s = this.state.get(p);
        if (s !== undefined) {
          state[index] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? v.clone() : v]));
        }
        indices.push(index++);
      }
      const hyper: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(group)) if (k !== 'params') hyper[k] = copyValue(v);
      paramGroups.push({ ...hyper, params: indices });
    }
    return { state, paramGroups };
  }

  /**
   * Restores a snapshot from `stateDict()`: hyperparameters of each group (as PyTorch does, so a saved
   * learning rate comes back) and each parameter's state. The groups must have the same sizes; state
   * tensors must match their parameter's shape. Values are copied.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${where}: the state dict has ${sd.paramGroups.length} parameter groups but the optimizer has ${this.paramGroups.length}`);
    }
    const params: Tensor[] = [];
    sd.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi];
      if (saved.params.length !== group.params.length) {
        throw new Error(`${where}: group ${gi} has ${saved.params.length} parameters in the state dict but ${group.params.length} in the optimizer`);
      }
      params.push(...group.params);
    });
    // Validate everything before changing anything, so that a failed load leaves the optimizer as it was.
    const groupsNew = sd.paramGroups.map((saved, gi) => {
      const g: Record<string, unknown> = { ...(this.paramGroups[gi] as unknown as Record<string, unknown>) };
      for (const [k, v] of Object.entries(saved)) if (k !== 'params') g[k] = copyValue(v);
      this.validate(g as unknown as O, `group ${gi} of the state dict`);
      return g;
    });
    const stateNew = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) {
        throw new Error(`${where}: state for parameter index ${key}, but the optimizer has ${params.length} parameters`);
      }
      const p = params[i];
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          if (v.shape.join() !== p.shape.join()) {
            throw new ShapeError(`${where}: state '${k}' of parameter ${i} has shape ${fmt(v.shape)} but the parameter has ${fmt(p.shape)}`);
          }
          copy[k] = v.clone();
        } else copy[k] = v;
      }
      stateNew.set(p, copy);
    }
    groupsNew.forEach((g, gi) => Object.assign(this.paramGroups[gi], g, { params: this.paramGroups[gi].params }));
    this.state.clear();
    for (const [p, s] of stateNew) this.state.set(p, s);
  }
}

/** Throws `${name}: ${where}: ${what} = ${value} ...` unless `ok` (also when value is not a finite number). */
export function check(name: string, where: string, what: string, value: unknown, ok: boolean, expected = 'out of range'): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok) {
    throw new Error(`${name}: ${where}: ${what} = ${String(value)} is ${expected}`);
  }
}

/** A float32 buffer of zeros shaped as `p`, for optimizer state. */
export function zerosLike(p: Tensor): Tensor {
  return Tensor.zeros(p.shape);
}

/**
 * Splits parameters into two groups as nanoGPT does: matrices and embeddings (ndim >= 2) get weight
 * decay, vectors (biases, norm gains; ndim < 2) get none, since decaying a gain or a bias toward 0 only
 * fights the normalisation it belongs to.
 *
 * @returns `[{ params: ndim >= 2, weightDecay }, { params: ndim < 2, weightDecay: 0 }]`
 */
export function weightDecayGroups(params: Iterable<Tensor>, weightDecay: number): [ParamGroupSpec, ParamGroupSpec] {
  const all = [...params];
  return [
    { params: all.filter((p) => p.ndim >= 2), weightDecay },
    { params: all.filter((p) => p.ndim < 2), weightDecay: 0 },
  ];
}
