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
import { Module, describeValue } from '../nn/module.js';

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
 *
 * It holds Tensors, so it does not survive a JSON round trip as it is (a Tensor becomes a plain object):
 * `loadStateDict` refuses such a state with an error naming the entry, rather than guessing. To save one
 * as JSON, write each state tensor as `{ shape, data: [...t.data] }` and rebuild it with
 * `new Tensor(Float32Array.from(data), shape)` before loading.
 */
export interface OptimizerStateDict {
  /** The optimizer's name ('SGD', 'AdamW'): a state dict loads only into the same kind of optimizer. */
  optimizer: string;
  /** Parameter index -> its state (absent for parameters that have not been stepped yet). */
  state: Record<number, ParamState>;
  /** Each group's hyperparameters, with `params` as indices instead of tensors. */
  paramGroups: (Record<string, unknown> & { params: number[] })[];
}

/**
 * The entries one parameter's state must have, for `loadStateDict` to check a snapshot: required and
 * optional tensor buffers (each of the parameter's shape) and required counters (integers >= 0).
 */
export interface StateSpec {
  tensors: readonly string[];
  optionalTensors?: readonly string[];
  counters?: readonly string[];
}

/** Copies a hyperparameter value so that a snapshot does not share arrays (betas) with a live group. */
function copyValue(v: unknown): unknown {
  return Array.isArray(v) ? [...v] : v;
}

/** A plain float32 copy of a state buffer (never part of a graph, whatever the source was). */
function copyBuffer(t: Tensor): Tensor {
  return new Tensor(t.data.slice(), t.shape);
}

/** Whether `v` can be spread with `[...v]` (and is not a string, which is iterable too). */
function isIterable(v: unknown): v is Iterable<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/** Checks what was passed as params (or a group's params): the usual mistakes get a message that says what to pass. */
function checkParamsArg(where: string, v: unknown): asserts v is Iterable<unknown> {
  if (v instanceof Tensor) throw new Error(`${where} is a single Tensor ${fmt(v.shape)}; pass a list of tensors ([t]) or model.parameters()`);
  if (v instanceof Module) throw new Error(`${where} is a Module (${v.constructor.name}); pass model.parameters()`);
  if (!isIterable(v)) throw new Error(`${where} must be a list of tensors (model.parameters()) or of parameter groups ({ params, ...options }), got ${describeValue(v)}`);
}

/**
 * Throws for a key of `obj` that is not one of `allowed`, suggesting the camelCase name for a snake_case
 * (PyTorch-style) one: `weight_decay` -> `weightDecay`.
 */
function checkKeys(where: string, obj: object, allowed: readonly string[], what = 'option'): void {
  for (const k of Object.keys(obj)) {
    if (allowed.includes(k)) continue;
    const camel = k.replace(/_+([a-z0-9])/gi, (_m, c: string) => c.toUpperCase());
    const guess = allowed.find((a) => a === camel || a.toLowerCase() === camel.toLowerCase());
    throw new Error(`${where}: unknown ${what} '${k}'${guess ? ` (did you mean '${guess}'?)` : ''}; expected one of ${allowed.join(', ')}`);
  }
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  readonly defaults: Readonly<O>;
  /** Per-parameter state, created lazily on a parameter's first step (as PyTorch). */
  protected readonly state = new Map<Tensor, ParamState>();

  /**
   * @param name the optimizer's name, for error messages and state dicts
   * @param params parameters (one group) or groups of parameters with their own hyperparameters
   * @param defaults every hyperparameter (its keys are the options this optimizer knows)
   * @param opts the caller's options, overriding `defaults`; a key not in `defaults` is an error
   */
  protected constructor(readonly name: string, params: Params<O>, defaults: O, opts: Partial<O> = {}) {
    const allowed = Object.keys(defaults);
    if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
      throw new Error(`${name}: options must be an object such as { lr: 0.001 }, got ${describeValue(opts)}`);
    }
    checkKeys(`${name}: options`, opts, allowed);
    const merged = { ...defaults };
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) (merged as Record<string, unknown>)[k] = copyValue(v);
    this.defaults = Object.freeze(merged);
    checkParamsArg(`${name}: params`, params);
    const list = [...(params as Iterable<unknown>)];
    const specs: ParamGroupSpec<O>[] = list.every((x) => x instanceof Tensor)
      ? [{ params: list as Tensor[] } as unknown as ParamGroupSpec<O>]
      : list.map((x, i) => {
          if (x instanceof Module) throw new Error(`${name}: params element ${i} is a Module (${x.constructor.name}); pass model.parameters()`);
          if (x instanceof Tensor || typeof x !== 'object' || x === null || !('params' in x)) {
            throw new Error(`${name}: params must be all tensors or all parameter groups ({ params, ...options }); element ${i} is ${describeValue(x)}`);
          }
          return x as ParamGroupSpec<O>;
        });
    const seen = new Set<Tensor>();
    this.paramGroups = specs.map((spec, gi) => {
      checkKeys(`${name}: group ${gi}`, spec, ['params', ...allowed]);
      checkParamsArg(`${name}: group ${gi} params`, spec.params);
      const ps = [...spec.params] as unknown[];
      ps.forEach((p, pi) => {
        if (!(p instanceof Tensor)) throw new Error(`${name}: group ${gi} parameter ${pi} is ${describeValue(p)}, not a Tensor`);
        // A non-leaf would have its data rewritten under the graph that made it; PyTorch refuses it too.
        if (p.node !== null) throw new Error(`${name}: group ${gi} parameter ${pi} ${fmt(p.shape)} is not a leaf (it was made by '${p.node.op}'); optimize the leaf tensors`);
        if (seen.has(p)) throw new Error(`${name}: group ${gi} parameter ${pi} ${fmt(p.shape)} appears more than once; each parameter may be in one group only`);
        seen.add(p);
      });
      const group = { ...merged } as ParamGroup<O>;
      for (const [k, v] of Object.entries(spec)) if (k !== 'params' && v !== undefined) (group as unknown as Record<string, unknown>)[k] = copyValue(v);
      group.params = ps as Tensor[];
      this.validate(group, `${name}: group ${gi}`);
      return group;
    });
    if (seen.size === 0) throw new Error(`${name}: got an empty parameter list`);
  }

  /**
   * Throws if a group's hyperparameters are missing, of the wrong type or out of range; `where` starts
   * the message (`AdamW: group 0`, `AdamW.step: group 0`).
   */
  protected validate(group: O, where: string): void {
    check(where, 'lr', group.lr, group.lr >= 0);
    check(where, 'weightDecay', group.weightDecay, group.weightDecay >= 0);
  }

  /**
   * Validates every group's hyperparameters; called at the top of `step()`, before any parameter
   * changes, so that a scheduler that wrote NaN (or a string) into `group.lr` gets an error naming the
   * group rather than NaN parameters.
   */
  protected checkGroups(): void {
    this.paramGroups.forEach((g, gi) => this.validate(g, `${this.name}.step: group ${gi}`));
  }

  /**
   * The entries of one parameter's state, for `loadStateDict` to check; null (the default, for
   * optimizers that do not say) checks only that values are Tensors of the parameter's shape or numbers.
   */
  protected stateSpec(): StateSpec | null {
    return null;
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
          state[index] = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? copyBuffer(v) : v]));
        }
        indices.push(index++);
      }
      const hyper: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(group)) if (k !== 'params') hyper[k] = copyValue(v);
      paramGroups.push({ ...hyper, params: indices });
    }
    return { optimizer: this.name, state, paramGroups };
  }

  /**
   * Restores a snapshot from `stateDict()` of the same kind of optimizer: hyperparameters of each group
   * (as PyTorch does, so a saved learning rate comes back) and each parameter's state. The groups must
   * have the same sizes; saved parameter indices map to this optimizer's parameters position by
   * position, group by group (as PyTorch). Every state entry must have the buffers and counters this
   * optimizer keeps, as Tensors of the parameter's shape (a JSON-parsed snapshot, whose Tensors are plain
   * objects, is refused; see OptimizerStateDict). Everything is checked before anything changes, so a
   * failed load leaves the optimizer as it was. Values are copied.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null) throw new Error(`${where}: expected a state dict from stateDict(), got ${describeValue(sd)}`);
    if (sd.optimizer !== this.name) {
      throw new Error(
        sd.optimizer === undefined
          ? `${where}: the state dict does not name its optimizer (no 'optimizer' field); expected one saved by ${this.name}.stateDict()`
          : `${where}: the state dict is from ${typeof sd.optimizer === 'string' ? `'${sd.optimizer}'` : describeValue(sd.optimizer)}, not ${this.name}; state and hyperparameters do not carry over between optimizers`,
      );
    }
    if (!Array.isArray(sd.paramGroups)) throw new Error(`${where}: paramGroups must be an array, got ${describeValue(sd.paramGroups)}`);
    if (typeof sd.state !== 'object' || sd.state === null) throw new Error(`${where}: state must be an object (index -> state), got ${describeValue(sd.state)}`);
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${where}: the state dict has ${sd.paramGroups.length} parameter groups but the optimizer has ${this.paramGroups.length}`);
    }
    // Saved index -> this optimizer's parameter, position by position within each group.
    const byIndex = new Map<number, { p: Tensor; gi: number }>();
    sd.paramGroups.forEach((saved, gi) => {
      const group = this.paramGroups[gi];
      if (typeof saved !== 'object' || saved === null || !Array.isArray(saved.params)) {
        throw new Error(`${where}: group ${gi} of the state dict must be { params: number[], ...hyperparameters }, got ${describeValue(saved)}`);
      }
      if (saved.params.length !== group.params.length) {
        throw new Error(`${where}: group ${gi} has ${saved.params.length} parameters in the state dict but ${group.params.length} in the optimizer`);
      }
      saved.params.forEach((id, j) => {
        if (!Number.isInteger(id) || id < 0) throw new Error(`${where}: group ${gi} params[${j}] must be an integer index >= 0, got ${describeValue(id)}`);
        if (byIndex.has(id)) throw new Error(`${where}: parameter index ${id} appears more than once in the state dict's groups`);
        byIndex.set(id, { p: group.params[j], gi });
      });
    });
    // Validate everything before changing anything, so that a failed load leaves the optimizer as it was.
    const allowed = Object.keys(this.defaults);
    const groupsNew = sd.paramGroups.map((saved, gi) => {
      checkKeys(`${where}: group ${gi} of the state dict`, saved, ['params', ...allowed], 'hyperparameter');
      const g: Record<string, unknown> = { ...(this.paramGroups[gi] as unknown as Record<string, unknown>) };
      for (const [k, v] of Object.entries(saved)) if (k !== 'params') g[k] = copyValue(v);
      this.validate(g as unknown as O, `${where}: group ${gi} of the state dict`);
      return g;
    });
    const spec = this.stateSpec();
    const stateNew = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const i = Number(key);
      const target = Number.isInteger(i) ? byIndex.get(i) : undefined;
      if (target === undefined) {
        throw new Error(`${where}: state for parameter index ${key}, but the state dict's groups list ${byIndex.size} parameters (indices ${[...byIndex.keys()].join(', ')})`);
      }
      const { p } = target;
      const at = `${where}: state of parameter ${i} ${fmt(p.shape)}`;
      if (typeof s !== 'object' || s === null) throw new Error(`${at} must be an object of buffers and counters, got ${describeValue(s)}`);
      if (spec !== null) {
        const known = [...spec.tensors, ...(spec.optionalTensors ?? []), ...(spec.counters ?? [])];
        checkKeys(at, s, known, 'entry');
        for (const k of [...spec.tensors, ...(spec.counters ?? [])]) {
          if (!(k in s)) throw new Error(`${at} has no '${k}' (${this.name} keeps ${known.join(', ')})`);
        }
      }
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s as Record<string, unknown>)) {
        if (spec === null && typeof v === 'number') {
          copy[k] = v;
          continue;
        }
        if (spec !== null && (spec.counters ?? []).includes(k)) {
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${at}: '${k}' must be an integer >= 0, got ${describeValue(v)}`);
          copy[k] = v;
          continue;
        }
        if (!(v instanceof Tensor)) {
          throw new Error(
            `${at}: '${k}' is ${describeValue(v)}, not a Tensor (a JSON round trip turns Tensors into plain objects: ` +
              `rebuild each as new Tensor(Float32Array.from(data), shape) before loading)`,
          );
        }
        if (v.shape.join() !== p.shape.join()) {
          throw new ShapeError(`${where}: state '${k}' of parameter ${i} has shape ${fmt(v.shape)} but the parameter has ${fmt(p.shape)}`);
        }
        if (v.dtype !== 'float32') throw new Error(`${at}: '${k}' must be float32, got ${v.dtype}`);
        copy[k] = copyBuffer(v);
      }
      stateNew.set(p, copy);
    }
    groupsNew.forEach((g, gi) => Object.assign(this.paramGroups[gi], g, { params: this.paramGroups[gi].params }));
    this.state.clear();
    for (const [p, s] of stateNew) this.state.set(p, s);
  }
}

/**
 * Throws unless `value` is a finite number and `ok`: `${where}: ${what} must be a number, got string '0.9'`,
 * `${where}: ${what} = NaN is not a finite number`, or `${where}: ${what} = -1 is ${expected}`.
 */
export function check(where: string, what: string, value: unknown, ok: boolean, expected = 'out of range'): void {
  if (typeof value !== 'number') throw new Error(`${where}: ${what} must be a number, got ${describeValue(value)}`);
  if (!Number.isFinite(value)) throw new Error(`${where}: ${what} = ${value} is not a finite number`);
  if (!ok) throw new Error(`${where}: ${what} = ${value} is ${expected}`);
}

/** Throws unless `value` is a boolean: `${where}: ${what} must be true or false, got string 'true'`. */
export function checkBool(where: string, what: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new Error(`${where}: ${what} must be true or false, got ${describeValue(value)}`);
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
