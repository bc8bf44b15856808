/**
 * The module base, as `torch.nn.Module`: parameters and sub-modules are found from the module's own
 * properties, in the order they were assigned, so names follow the code (`blocks.0.attn.qkv.weight`)
 * with no registration calls and no renaming table.
 *
 * - a `Tensor` property is state: saved in `stateDict()`; it is a parameter (trained) if it requires grad;
 * - a `Module` property is a child; an array of modules is a list of children named `name.0`, `name.1`, ...
 * - anything else (numbers, options, caches kept in Maps) is not state.
 */
import { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';

export abstract class Module {
  /** Training mode (dropout active) or evaluation mode; set with `train()` / `eval()`. */
  training = true;

  /** Direct children with their names, in assignment order. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value) && value.length > 0 && value.every((v) => v instanceof Module)) {
        value.forEach((m: Module, i) => out.push([`${key}.${i}`, m]));
      }
    }
    return out;
  }

  /** This module and every descendant, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every tensor of state (parameters and buffers) with its dotted name. */
  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Tensor) out.push([prefix ? `${prefix}.${key}` : key, value]);
    }
    for (const [name, child] of this.namedChildren()) out.push(...child.namedTensors(prefix ? `${prefix}.${name}` : name));
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
   * both ways; shapes must always match. Errors name the tensor and both shapes.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): void {
    const strict = opts.strict ?? true;
    const src = state instanceof Map ? state : new Map(Object.entries(state));
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
    for (const [name, t] of own) {
      const s = src.get(name);
      if (s === undefined) continue;
      if (s.shape.join() !== t.shape.join()) {
        throw new Error(`loadStateDict: '${name}' has shape ${fmt(s.shape)} in the state dict but ${fmt(t.shape)} in the module`);
      }
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
