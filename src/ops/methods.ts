/**
 * Method sugar on Tensor (`x.matmul(w).add(b).relu()`), so that models read like their equations. Each
 * method is the functional op of the same name; importing this module (index.ts does) installs them.
 * Kept apart from tensor.ts so that the tensor type does not depend on the ops built on it.
 */
import { Tensor } from '../tensor/tensor.js';
import type { Generator } from '../tensor/random.js';
import * as ew from './elementwise.js';
import { matmul, type MatmulOptions } from './matmul.js';
import * as red from './reduce.js';
import * as sh from './shape.js';
import * as nn from './nn.js';

type T = Tensor | number;

declare module '../tensor/tensor.js' {
  interface Tensor {
    add(b: T): Tensor;
    sub(b: T): Tensor;
    mul(b: T): Tensor;
    div(b: T): Tensor;
    pow(b: T): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    silu(): Tensor;
    gelu(opts?: { approximate?: 'none' | 'tanh' }): Tensor;
    maximum(b: Tensor): Tensor;
    minimum(b: Tensor): Tensor;
    eq(b: T): Tensor;
    ne(b: T): Tensor;
    lt(b: T): Tensor;
    le(b: T): Tensor;
    gt(b: T): Tensor;
    ge(b: T): Tensor;
    /** this: [..., m, k] @ b: [..., k, n] -> [..., m, n]. */
    matmul(b: Tensor, opts?: MatmulOptions): Tensor;
    sum(axes?: number | readonly number[], opts?: red.ReduceOptions): Tensor;
    mean(axes?: number | readonly number[], opts?: red.ReduceOptions): Tensor;
    max(axis?: number, opts?: red.ReduceOptions): Tensor;
    argmax(axis?: number, opts?: red.ReduceOptions): Tensor;
    reshape(shape: readonly number[]): Tensor;
    /** Alias of reshape (data is always contiguous here). */
    view(shape: readonly number[]): Tensor;
    transpose(axis0: number, axis1: number): Tensor;
    permute(perm: readonly number[]): Tensor;
    unsqueeze(axis: number): Tensor;
    squeeze(axis?: number): Tensor;
    slice(axis: number, start: number, end?: number): Tensor;
    split(sizes: number | readonly number[], axis?: number): Tensor[];
    broadcastTo(shape: readonly number[]): Tensor;
    maskedFill(mask: Tensor, value: number | Tensor): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    dropout(p: number, opts?: { training?: boolean; generator?: Generator }): Tensor;
  }
}

const P = Tensor.prototype;
P.add = function (b) { return ew.add(this, b); };
P.sub = function (b) { return ew.sub(this, b); };
P.mul = function (b) { return ew.mul(this, b); };
P.div = function (b) { return ew.div(this, b); };
P.pow = function (b) { return ew.pow(this, b); };
P.neg = function () { return ew.neg(this); };
P.exp = function () { return ew.exp(this); };
P.log = function () { return ew.log(this); };
P.sqrt = function () { return ew.sqrt(this); };
P.abs = function () { return ew.abs(this); };
P.tanh = function () { return ew.tanh(this); };
P.sigmoid = function () { return ew.sigmoid(this); };
P.relu = function () { return ew.relu(this); };
P.silu = function () { return ew.silu(this); };
P.gelu = function (opts) { return ew.gelu(this, opts); };
P.maximum = function (b) { return ew.maximum(this, b); };
P.minimum = function (b) { return ew.minimum(this, b); };
P.eq = function (b) { return ew.eq(this, b); };
P.ne = function (b) { return ew.ne(this, b); };
P.lt = function (b) { return ew.lt(this, b); };
P.le = function (b) { return ew.le(this, b); };
P.gt = function (b) { return ew.gt(this, b); };
P.ge = function (b) { return ew.ge(this, b); };
P.matmul = function (b, opts) { return matmul(this, b, opts); };
P.sum = function (axes, opts) { return red.sum(this, axes, opts); };
P.mean = function (axes, opts) { return red.mean(this, axes, opts); };
P.max = function (axis, opts) { return red.max(this, axis, opts); };
P.argmax = function (axis, opts) { return red.argmax(this, axis, opts); };
P.reshape = function (shape) { return sh.reshape(this, shape); };
P.view = function (shape) { return sh.reshape(this, shape); };
P.transpose = function (a0, a1) { return sh.transpose(this, a0, a1); };
P.permute = function (perm) { return sh.permute(this, perm); };
P.unsqueeze = function (axis) { return sh.unsqueeze(this, axis); };
P.squeeze = function (axis) { return sh.squeeze(this, axis); };
P.slice = function (axis, start, end) { return sh.slice(this, axis, start, end); };
P.split = function (sizes, axis) { return sh.split(this, sizes, axis); };
P.broadcastTo = function (shape) { return sh.broadcastTo(this, shape); };
P.maskedFill = function (mask, value) { return sh.maskedFill(this, mask, value); };
P.softmax = function (axis) { return nn.softmax(this, axis); };
P.logSoftmax = function (axis) { return nn.logSoftmax(this, axis); };
P.dropout = function (p, opts) { return nn.dropout(this, p, opts); };
