/**
 * The module base, as `torch.nn.Module`: parameters and sub-modules are found from the module's own
 * properties, so names follow the code (`blocks.0.attn.q.weight`) with no registration calls and no
 * renaming table.
 *
 * Discovery reads the own enumerable properties in their creation order. Class fields (ES2022, this
 * package's target) are all created at construction in *declaration* order, before the constructor body
 * runs, so the order is the order the fields are declared in the class (base class first), not the order
 * the constructor assigns them; a property added later (not declared) comes after the declared ones.
 *
 * - a leaf `Tensor` property (`t.node === null`) is state: saved in `stateDict()`; it is a parameter
 *   (trained) if it requires grad. A non-leaf tensor (made by an op: an activation cached on the module)
 *   is neither state nor a parameter and is skipped;
 * - a `Module` property is a child;
 * - an array (nested arrays too) of modules is a list of children named `name.0`, `name.1`, ... (a
 *   `grid: Linear[][]` gives `grid.0.1.weight`); an array of leaf tensors is state named `name.0`, ...;
 *   `null`/`undefined` entries are skipped (their index is kept, so names stay stable), as are non-leaf
 *   tensors. An array that mixes modules or tensors with anything else is an error, as is a Map or a Set
 *   that holds modules or leaf tensors (they have no stable names): nothing is silently left out;
 * - anything else (numbers, options, Generators, typed arrays, arrays of numbers) is not state.
 *
 * Within one module its own tensors come first, then each child's, as PyTorch's `state_dict()` puts a
 * module's parameters and buffers before its children's.
 *
 * To hold a tensor or a module on a module without it being state (a cache of inputs, a reference to a
 * shared or parent module), name the property with `notState('cache')` (in the constructor), or keep it
 * in an ES private field (`#cache`), which discovery never sees. A child holding a reference to one of its
 * ancestors (a cycle) is an error that names the path, unless the property is marked with `notState`.
 * The same module reachable under two names (a shared block) is not a cycle: it appears under both.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';

/** Names marked with `notState`, per module (a WeakMap so that the mark is not itself a property). */
const notStateKeys = new WeakMap<Module, Set<string>>();

/** What one own property of a module is, for discovery. */
type Kind = 'module' | 'tensor' | 'skip' | 'other';

function kindOf(v: unknown): Kind {
  if (v instanceof Module) return 'module';
  if (v instanceof Tensor) return v.node === null ? 'tensor' : 'skip';
  if (v === null || v === undefined) return 'skip';
  return 'other';
}

/**
 * A short description of a value for error messages: a number as itself, anything else with its type
 * (`string '0.9'`, `a Tensor [2,3]`, `a Module (Linear)`). @internal (shared by nn/ and optim/)
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `string '${v}'`;
  if (v instanceof Module) return `a Module (${v.constructor.name})`;
  if (v instanceof Tensor) return `a Tensor ${fmt(v.shape)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return `an object (${Object.getPrototypeOf(v)?.constructor?.name ?? 'null prototype'})`;
  return `${typeof v} ${String(v)}`;
}

/** A Module or leaf Tensor inside a Map or Set (looking into nested arrays), or undefined. */
function stateInside(values: Iterable<unknown>): Module | Tensor | undefined {
  for (const v of values) {
    const k = kindOf(v);
    if (k === 'module' || k === 'tensor') return v as Module | Tensor;
    if (Array.isArray(v)) {
      const inner = stateInside(v);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

export abstract class Module {
  /** Training mode (dropout active) or evaluation mode; set with `train()` / `eval()`. */
  training = true;

  /**
   * Marks own properties as not state: discovery skips them whatever they hold (tensors, modules, Maps),
   * so they are neither saved, loaded, trained nor switched by `train()`/`eval()`. For caches and for
   * references to modules owned elsewhere (a parent, a shared embedding that another module saves).
   * Call it in the constructor; the properties need not exist yet.
   */
  notState(...names: string[]): this {
    for (const n of names) {
      if (typeof n !== 'string' || n === '') throw new Error(`${this.constructor.name}.notState: property names must be non-empty strings, got ${describeValue(n)}`);
    }
    let set = notStateKeys.get(this);
    if (set === undefined) notStateKeys.set(this, (set = new Set()));
    for (const n of names) set.add(n);
    return this;
  }

  /**
   * This module's own tensors and direct children, with their names relative to it, in discovery order.
   * `path` names this module in errors.
   */
  private discover(path: string): { tensors: [string, Tensor][]; children: [string, Module][] } {
    const tensors: [string, Tensor][] = [];
    const children: [string, Module][] = [];
    const skip = notStateKeys.get(this);
    const where = `${this.constructor.name}${path ? ` at '${path}'` : ''}`;
    for (const [key, value] of Object.entries(this)) {
      if (skip?.has(key)) continue;
      const kind = kindOf(value);
      if (kind === 'module') children.push([key, value as Module]);
      else if (kind === 'tensor') tensors.push([key, value as Tensor]);
      else if (Array.isArray(value)) {
        // Flatten nested arrays to (name, element) pairs, skipping null/undefined and non-leaf tensors.
        const found: [string, Module | Tensor][] = [];
        let other: [string, unknown] | undefined;
        const walk = (arr: readonly unknown[], name: string): void => {
          for (let i = 0; i < arr.length; i++) {
            const v = arr[i];
            const k = kindOf(v);
            if (k === 'module' || k === 'tensor') found.push([`${name}.${i}`, v as Module | Tensor]);
            else if (Array.isArray(v)) walk(v, `${name}.${i}`);
            else if (k === 'other') other ??= [`${name}.${i}`, v];
          }
        };
        walk(value, key);
        if (found.length === 0) continue; // an array of plain values (numbers, options, activations): not state
        const hint = `an array must hold only Modules (children) or only Tensors (state), with null for gaps; mark it with notState('${key}') if it is not state`;
        if (other !== undefined) {
          throw new Error(`${where}: property '${key}' mixes ${describeValue(found[0][1])} ('${found[0][0]}') with ${describeValue(other[1])} ('${other[0]}'): ${hint}`);
        }
        const mod = found.find(([, v]) => v instanceof Module);
        const ten = found.find(([, v]) => v instanceof Tensor);
        if (mod !== undefined && ten !== undefined) {
          throw new Error(`${where}: property '${key}' mixes Modules ('${mod[0]}') and Tensors ('${ten[0]}'): ${hint}`);
        }
        for (const [name, v] of found) {
          if (v instanceof Module) children.push([name, v]);
          else tensors.push([name, v]);
        }
      } else if (value instanceof Map || value instanceof Set) {
        const inside = stateInside(value instanceof Map ? [...value.keys(), ...value.values()] : value.values());
        if (inside !== undefined) {
          const what = value instanceof Map ? 'a Map' : 'a Set';
          throw new Error(
            `${where}: property '${key}' is ${what} holding ${describeValue(inside)}; modules and tensors in ${what} are not discovered ` +
              `(they would have no stable state names): use a property or an array, or mark it with notState('${key}') if it is not state`,
          );
        }
      }
    }
    return { tensors, children };
  }

  /**
   * Visits this module and every descendant (depth first, discovery order) with its dotted name.
   * Throws on a cycle: a descendant holding one of its ancestors.
   */
  private walk(prefix: string, ancestors: [string, Module][], visit: (name: string, m: Module, tensors: [string, Tensor][]) => void): void {
    const { tensors, children } = this.discover(prefix);
    visit(prefix, this, tensors);
    const path: [string, Module][] = [...ancestors, [prefix, this]];
    for (const [name, child] of children) {
      const full = prefix ? `${prefix}.${name}` : name;
      const at = path.findIndex(([, m]) => m === child);
      if (at !== -1) {
        const [ancestorName, ancestor] = path[at];
        throw new Error(
          `${this.constructor.name}${prefix ? ` at '${prefix}'` : ''}: '${full}' is ${ancestor.constructor.name} ` +
            `${ancestorName ? `at '${ancestorName}'` : '(the root module)'}, one of its own ancestors: a cycle. ` +
            `Mark the property with notState('${name.split('.')[0]}') to keep the reference without making it a child`,
        );
      }
      child.walk(full, path, visit);
    }
  }

  /** Direct children with their names, in discovery order (see the module comment). */
  namedChildren(): [string, Module][] {
    return this.discover('').children;
  }

  /** This module and every descendant, with dotted names ('' for this one, or `prefix`). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    this.walk(prefix, [], (name, m) => out.push([name, m]));
    return out;
  }

  /** Every tensor of state (parameters and buffers) with its dotted name. */
  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    this.walk(prefix, [], (name, _m, tensors) => {
      for (const [key, t] of tensors) out.push([name ? `${name}.${key}` : key, t]);
    });
    return out;
  }

  /** Trainable tensors (those that require grad) with their dotted names. */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>(); // a tied weight appears once, under its first name
    return this.namedTensors().filter(([, t]) => t.requiresGrad && !seen.has(t) && (seen.add(t), true));
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Total number of trainable values. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** Name -> tensor, for saving; the tensors are the module's own (copy before mutating). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedTensors());
  }

  /**
   * Copies values into this module's tensors by name. With `strict` (default) every name must match
   * both ways; every value given for a name of this module must be a Tensor of the same shape and dtype.
   * Atomic: everything is checked before anything is copied, so a failed load leaves the module as it
   * was. Errors name the tensor and both shapes.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    if (!(state instanceof Map) && (typeof state !== 'object' || state === null)) {
      throw new Error(`loadStateDict: the state must be a Map or a record of name -> Tensor, got ${describeValue(state)}`);
    }
    const src: Map<string, unknown> = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !src.has(k));
      const unexpected = [...src.keys()].filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new Error(
          `loadStateDict: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${unexpected.join(', ')}` : ''}`,
        );
      }
    }
    // Validate every pair first, then copy: a mismatch anywhere must leave every tensor unchanged.
    const pairs: [Tensor, Tensor][] = [];
    for (const [name, t] of own) {
      const s = src.get(name);
      if (s === undefined) continue;
      if (!(s instanceof Tensor)) {
        throw new Error(`loadStateDict: '${name}' is ${describeValue(s)} in the state dict, not a Tensor (a JSON round trip turns Tensors into plain objects: rebuild them first)`);
      }
      if (s.shape.join() !== t.shape.join()) {
        throw new Error(`loadStateDict: '${name}' has shape ${fmt(s.shape)} in the state dict but ${fmt(t.shape)} in the module`);
      }
      if (s.dtype !== t.dtype) {
        throw new Error(`loadStateDict: '${name}' has dtype ${s.dtype} in the state dict but ${t.dtype} in the module (both ${fmt(t.shape)})`);
      }
      pairs.push([t, s]);
    }
    for (const [t, s] of pairs) {
      (t.data as Float32Array).set(s.data);
      t.markModified();
    }
  }

  /** Sets training mode on this module and all descendants. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }
}
