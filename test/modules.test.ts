/**
 * The small modules (Embedding, LayerNorm, RMSNorm, Dropout, MLP; Linear's parity too), the optimizers'
 * behaviour beyond their PyTorch parity (test/parity-optim.test.ts) and clipGradNorm: state dict names and
 * round trips, load errors, train/eval, gradchecks, PyTorch parity of each module's forward and backward
 * (fixtures/modules.json from fixtures/generate_modules.py), optimizer resumption and convergence.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad } from '../src/tensor/tensor.js';
import '../src/ops/methods.js';
import { Generator } from '../src/tensor/random.js';
import { Module } from '../src/nn/module.js';
import { Linear } from '../src/nn/linear.js';
import { Embedding } from '../src/nn/embedding.js';
import { LayerNorm } from '../src/nn/layer-norm.js';
import { RMSNorm } from '../src/nn/rms-norm.js';
import { Dropout } from '../src/nn/dropout.js';
import { MLP, type MLPActivation } from '../src/nn/mlp.js';
import { SGD, type SGDOptions } from '../src/optim/sgd.js';
import { AdamW, type AdamWOptions } from '../src/optim/adamw.js';
import { clipGradNorm } from '../src/optim/clip.js';
import { weightDecayGroups, type Optimizer, type OptimizerStateDict, type ParamGroupSpec } from '../src/optim/optimizer.js';
import { mul, sub } from '../src/ops/elementwise.js';
import { sum } from '../src/ops/reduce.js';
import { gradcheck, param } from './helpers/gradcheck.js';
import { assertClose, type Tolerance } from './helpers/allclose.js';
import { loadFixture, toTensor } from './helpers/fixtures.js';

const gen = (seed: number) => new Generator(seed);

/** A small composite, to check nested names and train/eval propagation. */
class Block extends Module {
  norm: LayerNorm;
  mlp: MLP;
  constructor(dim: number, seed: number) {
    super();
    this.norm = new LayerNorm(dim);
    this.mlp = new MLP(dim, 2 * dim, { dropout: 0.5, generator: gen(seed) });
  }
  forward(x: Tensor): Tensor {
    return this.mlp.forward(this.norm.forward(x));
  }
}

class Model extends Module {
  emb: Embedding;
  blocks: Block[];
  drop: Dropout;
  final: RMSNorm;
  constructor(seed: number) {
    super();
    this.emb = new Embedding(11, 4, { generator: gen(seed) });
    this.blocks = [new Block(4, seed + 1), new Block(4, seed + 2)];
    this.drop = new Dropout(0.25, { generator: gen(seed + 3) });
    this.final = new RMSNorm(4);
  }
  forward(ids: Tensor): Tensor {
    let h = this.drop.forward(this.emb.forward(ids));
    for (const b of this.blocks) h = b.forward(h);
    return this.final.forward(h);
  }
}

// ---- state dicts ----

test('state dict names follow the properties, PyTorch-style', () => {
  assert.deepEqual([...new MLP(4, 8).stateDict().keys()], ['fc.weight', 'fc.bias', 'proj.weight', 'proj.bias']);
  assert.deepEqual([...new MLP(4, 8, { bias: false }).stateDict().keys()], ['fc.weight', 'proj.weight']);
  assert.deepEqual([...new LayerNorm(4).stateDict().keys()], ['weight', 'bias']);
  assert.deepEqual([...new LayerNorm(4, { bias: false }).stateDict().keys()], ['weight']);
  assert.deepEqual([...new LayerNorm(4, { elementwiseAffine: false }).stateDict().keys()], []);
  assert.deepEqual([...new RMSNorm(4).stateDict().keys()], ['weight']);
  assert.deepEqual([...new Embedding(5, 3).stateDict().keys()], ['weight']);
  assert.deepEqual([...new Dropout(0.1).stateDict().keys()], []);
  const names = [...new Model(0).stateDict().keys()];
  assert.deepEqual(names, [
    'emb.weight',
    'blocks.0.norm.weight', 'blocks.0.norm.bias', 'blocks.0.mlp.fc.weight', 'blocks.0.mlp.fc.bias', 'blocks.0.mlp.proj.weight', 'blocks.0.mlp.proj.bias',
    'blocks.1.norm.weight', 'blocks.1.norm.bias', 'blocks.1.mlp.fc.weight', 'blocks.1.mlp.fc.bias', 'blocks.1.mlp.proj.weight', 'blocks.1.mlp.proj.bias',
    'final.weight',
  ]);
  assert.equal(new Model(0).numParameters(), 11 * 4 + 2 * (4 + 4 + 8 * 4 + 8 + 4 * 8 + 4) + 4);
});

test('initialisation: shapes, PyTorch defaults, and seeded reproducibility', () => {
  const e = new Embedding(100, 50, { generator: gen(1) });
  assert.deepEqual([...e.weight.shape], [100, 50]);
  let m = 0;
  let v = 0;
  for (const x of e.weight.data) m += x / e.weight.size;
  for (const x of e.weight.data) v += (x - m) ** 2 / e.weight.size;
  assert.ok(Math.abs(m) < 0.05 && Math.abs(v - 1) < 0.05, `Embedding weight is N(0, 1): mean ${m}, var ${v}`);
  assert.deepEqual([...new Embedding(100, 50, { generator: gen(1) }).weight.data], [...e.weight.data]);
  const ln = new LayerNorm(6);
  assert.deepEqual([...ln.weight!.data], [1, 1, 1, 1, 1, 1]);
  assert.deepEqual([...ln.bias!.data], [0, 0, 0, 0, 0, 0]);
  assert.equal(ln.eps, 1e-5);
  assert.equal(new RMSNorm(3).eps, 1e-6);
  assert.deepEqual([...new RMSNorm(3).weight.data], [1, 1, 1]);
  const mlp = new MLP(4, 16, { generator: gen(2) });
  assert.deepEqual([...mlp.fc.weight.shape], [16, 4]);
  assert.deepEqual([...mlp.proj.weight.shape], [4, 16]);
  assert.ok(mlp.parameters().every((p) => p.requiresGrad));
});

test('state dict round trip: load into a fresh module (other seed), same outputs; values are copied', () => {
  const a = new Model(1).eval();
  const b = new Model(100).eval();
  const ids = Tensor.fromArray([[1, 2, 3], [10, 0, 3]]);
  assert.notDeepEqual([...b.forward(ids).data], [...a.forward(ids).data]);
  const sd = a.stateDict();
  b.loadStateDict(sd);
  assert.deepEqual([...b.forward(ids).data], [...a.forward(ids).data]);
  // b holds copies: changing a afterwards leaves b as it was.
  const before = [...b.forward(ids).data];
  (a.emb.weight.data as Float32Array)[0] += 1;
  assert.deepEqual([...b.forward(ids).data], before);
  // A plain record works too, and loading keeps the tensors (and their requiresGrad) of the module.
  const w = b.final.weight;
  b.loadStateDict(Object.fromEntries(new Model(5).stateDict()));
  assert.equal(b.final.weight, w);
  assert.ok(b.final.weight.requiresGrad);
});

test('loadStateDict errors name the missing, unexpected and mismatched tensors', () => {
  const m = new MLP(4, 8);
  const sd = new MLP(4, 8).stateDict();
  const missing = new Map(sd);
  missing.delete('proj.bias');
  assert.throws(() => m.loadStateDict(missing), /loadStateDict: missing proj\.bias/);
  const extra = new Map(sd);
  extra.set('fc.scale', Tensor.zeros([8]));
  assert.throws(() => m.loadStateDict(extra), /loadStateDict: unexpected fc\.scale/);
  missing.set('fc.scale', Tensor.zeros([8]));
  assert.throws(() => m.loadStateDict(missing), /missing proj\.bias; unexpected fc\.scale/);
  assert.throws(() => m.loadStateDict(new MLP(4, 6).stateDict()), /'fc\.weight' has shape \[6,4\] in the state dict but \[8,4\] in the module/);
  // Non-strict: missing and unexpected are allowed, shapes are still checked.
  m.loadStateDict(extra, { strict: false });
  assert.throws(() => m.loadStateDict(new Map([['fc.bias', Tensor.zeros([3])]]), { strict: false }), /'fc\.bias' has shape \[3\]/);
});

// ---- module discovery ----

/** A module that is only its properties, for discovery tests. */
class Bag extends Module {
  [key: string]: unknown;
  constructor(props: Record<string, unknown> = {}) {
    super();
    Object.assign(this, props);
  }
}

const keys = (m: Module): string[] => [...m.stateDict().keys()];

test('discovery: nested arrays of modules are children named by every index; null/undefined entries are skipped', () => {
  const a = new Linear(2, 3);
  const b = new Linear(3, 2, { bias: false });
  const grid = new Bag({ grid: [[a, null], [undefined, b], []] });
  assert.deepEqual(keys(grid), ['grid.0.0.weight', 'grid.0.0.bias', 'grid.1.1.weight']);
  assert.deepEqual(grid.namedChildren().map(([n]) => n), ['grid.0.0', 'grid.1.1']);
  assert.deepEqual(grid.parameters(), [a.weight, a.bias, b.weight]);
  grid.eval();
  assert.ok(!a.training && !b.training, 'train/eval reaches modules in nested arrays');
  // A gap in a flat list keeps the later indices (names stay stable when an entry is removed).
  assert.deepEqual(keys(new Bag({ layers: [null, new RMSNorm(2)] })), ['layers.1.weight']);
});

test('discovery: an array of tensors is state named name.i (a parameter list when they require grad)', () => {
  const w0 = Tensor.zeros([2], true);
  const w1 = Tensor.ones([3], true);
  const buf = Tensor.zeros([1]);
  const m = new Bag({ scales: [w0, null, w1], grid: [[buf]] });
  assert.deepEqual(keys(m), ['scales.0', 'scales.2', 'grid.0.0']);
  assert.deepEqual(m.parameters(), [w0, w1]);
  assert.equal(m.stateDict().get('grid.0.0'), buf);
  // Arrays of plain values are not state and not an error.
  assert.deepEqual(keys(new Bag({ sizes: [1, 2, 3], names: ['a'], empty: [] })), []);
});

test('discovery: non-leaf tensors (cached activations) are neither state nor parameters', () => {
  const l = new Linear(2, 2, { generator: gen(1) });
  const m = new Bag({ l, scale: Tensor.ones([2], true) });
  const x = Tensor.ones([1, 2]);
  m.lastOutput = l.forward(x); // made by an op: a node, not a leaf
  m.history = [l.forward(x), l.forward(x)];
  assert.ok((m.lastOutput as Tensor).node !== null);
  assert.deepEqual(keys(m), ['scale', 'l.weight', 'l.bias']);
  assert.equal(m.parameters().length, 3);
  // A Map of activations is not state either (only leaf tensors and modules are refused in a Map).
  m.cache = new Map([['h', l.forward(x)]]);
  assert.deepEqual(keys(m), ['scale', 'l.weight', 'l.bias']);
});

test('discovery: a Map or Set holding modules or tensors is an error naming the property', () => {
  assert.throws(() => new Bag({ heads: new Map([['a', new Linear(2, 2)]]) }).parameters(), /Bag: property 'heads' is a Map holding a Module \(Linear\).*notState\('heads'\)/);
  assert.throws(() => new Bag({ w: new Set([Tensor.zeros([2], true)]) }).stateDict(), /Bag: property 'w' is a Set holding a Tensor \[2\]/);
  assert.throws(() => new Bag({ m: new Map([['a', [Tensor.zeros([1])]]]) }).stateDict(), /property 'm' is a Map holding a Tensor \[1\]/);
  // Nested: the error names where the module sits.
  const inner = new Bag({ cache: new Map([[0, Tensor.zeros([3])]]) });
  assert.throws(() => new Bag({ blocks: [inner] }).train(), /Bag at 'blocks\.0': property 'cache' is a Map/);
  // Maps and Sets of other values are fine.
  assert.deepEqual(keys(new Bag({ counts: new Map([['a', 1]]), seen: new Set(['x']) })), []);
});

test('discovery: an array mixing modules or tensors with other values (or with each other) is an error', () => {
  assert.throws(() => new Bag({ layers: [new Linear(2, 2), 3] }).parameters(), /Bag: property 'layers' mixes a Module \(Linear\) \('layers\.0'\) with 3 \('layers\.1'\)/);
  assert.throws(() => new Bag({ layers: [[new Linear(2, 2)], ['relu']] }).stateDict(), /property 'layers' mixes .* with string 'relu' \('layers\.1\.0'\)/);
  assert.throws(() => new Bag({ ws: [Tensor.zeros([1]), { scale: 2 }] }).stateDict(), /property 'ws' mixes a Tensor \[1\] \('ws\.0'\) with an object \(Object\) \('ws\.1'\)/);
  assert.throws(() => new Bag({ mixed: [new Linear(2, 2), Tensor.zeros([1])] }).stateDict(), /property 'mixed' mixes Modules \('mixed\.0'\) and Tensors \('mixed\.1'\)/);
});

test('discovery: a cycle (a child holding its parent) is an error naming the path; notState keeps the reference', () => {
  const child = new Bag({ l: new Linear(2, 2) });
  const root = new Bag({ blocks: [child] });
  child.parent = root;
  assert.throws(() => root.stateDict(), /Bag at 'blocks\.0': 'blocks\.0\.parent' is Bag \(the root module\), one of its own ancestors: a cycle.*notState\('parent'\)/);
  assert.throws(() => root.train(), /a cycle/);
  const self = new Bag({ w: Tensor.zeros([1]) });
  self.me = self;
  assert.throws(() => self.stateDict(), /'me' is Bag \(the root module\)/);
  const deep = new Bag({ mid: new Bag({ leaf: child }) });
  child.parent = deep.mid;
  assert.throws(() => deep.stateDict(), /Bag at 'mid\.leaf': 'mid\.leaf\.parent' is Bag at 'mid'/);
  child.notState('parent');
  assert.deepEqual(keys(deep), ['mid.leaf.l.weight', 'mid.leaf.l.bias']);
  // A module shared under two names is not a cycle: it appears under both (its tensors once as parameters).
  const shared = new Linear(2, 2);
  const tied = new Bag({ a: shared, b: shared });
  assert.deepEqual(keys(tied), ['a.weight', 'a.bias', 'b.weight', 'b.bias']);
  assert.equal(tied.parameters().length, 2);
});

test('discovery order is field declaration order (ES2022 class fields), own tensors before children', () => {
  class Declared extends Module {
    second: Linear; // declared first, assigned last
    first: Linear;
    scale: Tensor; // declared after the children, but a module's own tensors come first, as PyTorch
    constructor() {
      super();
      this.first = new Linear(2, 2, { bias: false });
      this.scale = Tensor.ones([2], true);
      this.second = new Linear(2, 2, { bias: false });
    }
  }
  assert.deepEqual(keys(new Declared()), ['scale', 'second.weight', 'first.weight']);
});

test('notState and ES private fields hold tensors and modules that are not state', () => {
  class Cached extends Module {
    weight = Tensor.ones([2], true);
    cache: Tensor | null = null;
    lookup = new Map<string, Tensor>();
    owner: Module | null = null;
    #scratch = Tensor.zeros([4]);
    constructor() {
      super();
      this.notState('cache', 'lookup', 'owner');
    }
    scratch(): Tensor {
      return this.#scratch;
    }
  }
  const c = new Cached();
  c.cache = Tensor.zeros([3], true);
  c.lookup.set('k', Tensor.zeros([5]));
  c.owner = new Linear(2, 2);
  assert.deepEqual(keys(c), ['weight']);
  assert.deepEqual(c.parameters(), [c.weight]);
  assert.equal(c.namedModules().length, 1);
  assert.equal(c.scratch().size, 4);
  c.loadStateDict({ weight: Tensor.zeros([2]) });
  assert.throws(() => c.notState(''), /Cached\.notState: property names must be non-empty strings/);
});

test('loadStateDict is atomic: a bad entry anywhere leaves every tensor unchanged', () => {
  const m = new MLP(4, 8, { generator: gen(1) });
  const before = m.parameters().map((p) => [...p.data]);
  const versions = m.parameters().map((p) => p.version);
  const good = new MLP(4, 8, { generator: gen(2) }).stateDict();
  // The bad entry comes last in the module's order, so a copy-as-you-go load would have written fc.* first.
  const badShape = new Map(good);
  badShape.set('proj.bias', Tensor.zeros([5]));
  assert.throws(() => m.loadStateDict(badShape), /'proj\.bias' has shape \[5\] in the state dict but \[4\] in the module/);
  const badDtype = new Map(good);
  badDtype.set('proj.bias', Tensor.zeros([4]).toBool());
  assert.throws(() => m.loadStateDict(badDtype), /'proj\.bias' has dtype bool in the state dict but float32 in the module/);
  const notTensor = new Map<string, unknown>(good);
  notTensor.set('proj.bias', JSON.parse(JSON.stringify(good.get('proj.bias'))));
  assert.throws(() => m.loadStateDict(notTensor as Map<string, Tensor>), /'proj\.bias' is an object \(Object\) in the state dict, not a Tensor \(a JSON round trip/);
  assert.throws(() => m.loadStateDict(badShape, { strict: false }), /'proj\.bias' has shape \[5\]/);
  m.parameters().forEach((p, i) => assert.deepEqual([...p.data], before[i], `parameter ${i} unchanged`));
  m.parameters().forEach((p, i) => assert.equal(p.version, versions[i], `parameter ${i} not marked modified`));
  // A good load copies everything and marks each tensor modified.
  m.loadStateDict(good);
  m.parameters().forEach((p, i) => {
    assert.deepEqual([...p.data], [...[...good.values()][i].data]);
    assert.equal(p.version, versions[i] + 1);
  });
});

test('Linear and MLP sizes, dropout and activations are checked, naming the module and the argument', () => {
  assert.throws(() => new Linear(0, 3), /Linear\(0, 3\): inFeatures must be a positive integer, got 0/);
  assert.throws(() => new Linear(4, 2.5), /Linear\(4, 2\.5\): outFeatures must be a positive integer, got 2\.5/);
  assert.throws(() => new Linear('4' as unknown as number, 3), /Linear\(4, 3\): inFeatures must be a positive integer, got string '4'/);
  assert.throws(() => new Linear(NaN, 3), /inFeatures must be a positive integer, got NaN/);
  assert.throws(() => new MLP(4, 0), /MLP\(4, 0\): hidden must be a positive integer, got 0/);
  assert.throws(() => new MLP(-1, 8), /MLP\(-1, 8\): dim must be a positive integer, got -1/);
  assert.throws(() => new MLP(4, 8, { dropout: 1 }), /MLP\(4, 8\): dropout must be a probability in \[0, 1\), got 1/);
  assert.throws(() => new MLP(4, 8, { dropout: '0.1' as unknown as number }), /MLP\(4, 8\): dropout must be a probability in \[0, 1\), got string '0\.1'/);
  assert.throws(() => new Dropout('0.5' as unknown as number), /Dropout: p must be in \[0, 1\), got string '0\.5'/);
  // Names on Object.prototype are not activations.
  for (const bad of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
    assert.throws(() => new MLP(4, 8, { activation: bad as MLPActivation }), new RegExp(`MLP: activation must be one of gelu, gelu_tanh, relu, silu, got '${bad}'`));
  }
  assert.throws(() => new MLP(4, 8, { activation: 3 as unknown as MLPActivation }), /MLP: activation must be one of .*, got 3/);
  assert.throws(() => new LayerNorm(4, { eps: -1e-5 }), /LayerNorm\(4\): eps must be a finite number >= 0, got -0\.00001/);
  assert.throws(() => new RMSNorm(4, { eps: NaN }), /RMSNorm\(4\): eps must be a finite number >= 0, got NaN/);
});

// ---- train / eval and dropout ----

test('train/eval propagates to every descendant, arrays of modules included', () => {
  const m = new Model(0);
  assert.ok(m.namedModules().every(([, x]) => x.training));
  m.eval();
  const modules = m.namedModules();
  assert.equal(modules.length, 1 + 1 + 2 * (1 + 1 + 1 + 3) + 1 + 1);
  assert.ok(modules.every(([, x]) => !x.training));
  assert.equal(m.blocks[1].mlp.dropout.training, false);
  m.train();
  assert.ok(m.namedModules().every(([, x]) => x.training));
  m.train(false);
  assert.ok(m.namedModules().every(([, x]) => !x.training));
});

test('Dropout: identity in eval mode (and for p = 0); in training zeros ~p and scales the rest by 1/(1-p)', () => {
  const x = Tensor.randn([4000], { generator: gen(3), requiresGrad: true });
  const d = new Dropout(0.25, { generator: gen(4) });
  d.eval();
  assert.equal(d.forward(x), x);
  assert.equal(new Dropout(0).forward(x), x);
  d.train();
  const y = d.forward(x);
  let zeros = 0;
  for (let i = 0; i < x.size; i++) {
    if (y.data[i] === 0) zeros++;
    // The op multiplies by the float32 mask value 1/(1-p), as PyTorch does.
    else assert.equal(y.data[i], Math.fround(x.data[i] * Math.fround(1 / 0.75)));
  }
  assert.ok(Math.abs(zeros / x.size - 0.25) < 0.03, `dropped fraction ${zeros / x.size}`);
  // Seeded: the same generator seed gives the same mask.
  assert.deepEqual([...new Dropout(0.25, { generator: gen(4) }).forward(x).data], [...y.data]);
  // The gradient goes through the kept elements only, scaled the same way.
  y.backward(Tensor.ones([x.size]));
  for (let i = 0; i < x.size; i++) assert.equal(x.grad!.data[i], y.data[i] === 0 ? 0 : Math.fround(1 / 0.75));
  assert.throws(() => new Dropout(1), /Dropout: p must be in \[0, 1\), got 1/);
  assert.throws(() => new Dropout(-0.1), /Dropout: p must be in \[0, 1\)/);
});

test('a model in eval mode is deterministic; in training mode dropout changes the output', () => {
  const m = new Model(7);
  const ids = Tensor.fromArray([[1, 2, 3, 4]]);
  const t1 = m.forward(ids).data;
  const t2 = m.forward(ids).data;
  assert.notDeepEqual([...t1], [...t2]);
  m.eval();
  assert.deepEqual([...m.forward(ids).data], [...m.forward(ids).data]);
});

// ---- errors ----

test('module errors name the module, the argument and the shapes', () => {
  assert.throws(() => new LayerNorm(4).forward(Tensor.zeros([2, 5])), /LayerNorm\(4\): input \[2,5\] must end in 4/);
  assert.throws(() => new RMSNorm(4).forward(Tensor.zeros([3])), /RMSNorm\(4\): input \[3\] must end in 4/);
  assert.throws(() => new MLP(4, 8).forward(Tensor.zeros([2, 3])), /MLP\(4, 8\): input \[2,3\] must end in 4/);
  assert.throws(() => new Embedding(5, 3).forward(Tensor.fromArray([[1, 5]])), /Embedding\(5, 3\): ids \[1,2\] hold 5 at flat index 1; ids must be integers in \[0, 5\)/);
  assert.throws(() => new Embedding(5, 3).forward(Tensor.fromArray([0.5])), /hold 0\.5 at flat index 0/);
  assert.throws(() => new Embedding(5, 3).forward(Tensor.fromArray([-1])), /hold -1/);
  assert.throws(() => new Embedding(0, 3), /Embedding: numEmbeddings must be a positive integer, got 0/);
  assert.throws(() => new LayerNorm(2.5), /LayerNorm: dim must be a positive integer, got 2\.5/);
  assert.throws(() => new MLP(4, 8, { activation: 'tanh' as MLPActivation }), /MLP: activation must be one of gelu, gelu_tanh, relu, silu, got 'tanh'/);
});

test('Embedding: ids of any shape [...] give [..., dim]; rows are the weight rows', () => {
  const e = new Embedding(6, 3, { generator: gen(1) });
  const y = e.forward(Tensor.fromArray([[[5, 0]], [[2, 2]]]));
  assert.deepEqual([...y.shape], [2, 1, 2, 3]);
  assert.deepEqual([...y.data.slice(0, 3)], [...e.weight.data.slice(15, 18)]);
  assert.deepEqual([...e.forward(new Tensor(Float32Array.of(4), [])).shape], [3]);
});

// ---- gradchecks ----

test('gradcheck Linear module (weight, bias, input)', () => {
  const l = new Linear(5, 3, { generator: gen(1) });
  gradcheck((x) => l.forward(x), [param([2, 4, 5], 2), l.weight, l.bias!]);
});

test('gradcheck LayerNorm module (affine, bias-free, no affine)', () => {
  for (const opts of [{}, { bias: false }, { elementwiseAffine: false }, { eps: 1e-2 }]) {
    const ln = new LayerNorm(6, opts);
    // Non-default weights so that the gradient through them is not the special case weight = 1.
    if (ln.weight) ln.weight.data.set(param([6], 7, 0.3).data.map((v) => 1 + v));
    if (ln.bias) ln.bias.data.set(param([6], 8, 0.3).data);
    gradcheck((x) => ln.forward(x), [param([2, 3, 6], 3), ...ln.parameters()]);
  }
});

test('gradcheck RMSNorm module', () => {
  const n = new RMSNorm(6, { eps: 1e-5 });
  n.weight.data.set(param([6], 7, 0.3).data.map((v) => 1 + v));
  gradcheck((x) => n.forward(x), [param([2, 3, 6], 4), n.weight]);
});

test('gradcheck Embedding module (weight; repeated ids sum)', () => {
  const e = new Embedding(7, 3, { generator: gen(1) });
  const ids = Tensor.fromArray([[1, 3, 1], [6, 0, 1]]);
  gradcheck(() => e.forward(ids), [e.weight]);
});

for (const activation of ['gelu', 'gelu_tanh', 'silu', 'relu'] as const) {
  test(`gradcheck MLP module, activation ${activation}`, () => {
    const m = new MLP(4, 10, { activation, generator: gen(5) });
    // relu has a kink at 0: h = 1e-3 keeps central differences off it for these seeded values.
    gradcheck((x) => m.forward(x), [param([2, 3, 4], 6), ...m.parameters()], activation === 'relu' ? { h: 1e-3, atol: 2e-2 } : {});
  });
}

test('gradcheck MLP with dropout in training mode (seeded, so each evaluation draws the same mask)', () => {
  const m = new MLP(4, 8, { dropout: 0.3, generator: gen(5) });
  const x = param([3, 4], 6);
  const fn = (xx: Tensor) => {
    m.dropout = new Dropout(0.3, { generator: gen(9) });
    return m.forward(xx);
  };
  const y = fn(x);
  assert.ok(y.data.some((v) => v === 0), 'some outputs dropped');
  gradcheck(fn, [x, m.fc.weight, m.proj.weight]);
});

// ---- parity with PyTorch modules ----

/**
 * Tolerances for the module fixtures, as test/parity-ops.test.ts argues for the ops these modules are
 * made of: each op here is correctly rounded from float64, so the differences are PyTorch's float32
 * rounding: Linear and MLP sum dot products of <= 16 terms of size ~1 (a few ulps: rtol 1e-5, atol 1e-6);
 * LayerNorm/RMSNorm reduce over 8 values and their gradients subtract nearly equal terms, so their error
 * is bounded in absolute terms (atol 1e-6 against values ~1); Embedding's forward is a copy and its
 * gradient sums at most 2 terms (exact up to 1 ulp). GELU's 1 + erf(x) cancels for negative x in PyTorch
 * (|x|/2 ulp(1) absolute, ~2e-7 for these inputs): inside atol 1e-6.
 */
const MODULE_TOL: Tolerance = { rtol: 1e-5, atol: 1e-6 };

const modFixture = loadFixture('modules.json');
const moduleWorst = { maxAbs: 0, maxRel: 0, case: '' };

function build(kind: string, args: number[], options: Record<string, unknown>): Module & { forward(x: Tensor): Tensor } {
  switch (kind) {
    case 'Linear': return new Linear(args[0], args[1], options);
    case 'Embedding': return new Embedding(args[0], args[1], options);
    case 'LayerNorm': return new LayerNorm(args[0], options);
    case 'RMSNorm': return new RMSNorm(args[0], options);
    case 'MLP': return new MLP(args[0], args[1], options);
    default: throw new Error(`unknown module ${kind}`);
  }
}

for (const [name, c] of Object.entries(modFixture.cases)) {
  const p = c.params as { module: string; args: number[]; options: Record<string, unknown>; state: Record<string, Parameters<typeof toTensor>[0]> };
  test(`parity ${p.module} ${name}: output and gradients (input and every parameter) against PyTorch`, (t: TestContext) => {
    const m = build(p.module, p.args, p.options);
    m.loadStateDict(Object.fromEntries(Object.entries(p.state).map(([k, v]) => [k, toTensor(v)])));
    const x = c.inputs.ids ? toTensor(c.inputs.ids) : toTensor(c.inputs.x, true);
    const out = m.forward(x);
    let maxAbs = 0;
    let maxRel = 0;
    const check = (a: Tensor, e: Tensor, what: string) => {
      const r = assertClose(a, e, MODULE_TOL, `${name}: ${what}`);
      maxAbs = Math.max(maxAbs, r.maxAbs);
      maxRel = Math.max(maxRel, r.maxRel);
    };
    check(out, toTensor(c.outputs.out), 'out');
    if (m.parameters().length === 0 && !x.requiresGrad) return;
    out.backward(toTensor(c.inputs.w));
    const named = new Map(m.namedParameters());
    for (const [key, g] of Object.entries(c.grads)) {
      const target = key === 'x' ? x : named.get(key.slice('state.'.length));
      assert.ok(target, `${name}: no tensor for gradient ${key}`);
      assert.ok(target.grad, `${name}: ${key} got no gradient`);
      check(target.grad, toTensor(g), `grad ${key}`);
    }
    assert.equal(Object.keys(c.grads).length, named.size + (x.requiresGrad ? 1 : 0), `${name}: every gradient compared`);
    t.diagnostic(`${name}: max abs error ${maxAbs.toExponential(2)}, max rel error ${maxRel.toExponential(2)}`);
    if (maxAbs > moduleWorst.maxAbs) Object.assign(moduleWorst, { maxAbs, case: name });
    moduleWorst.maxRel = Math.max(moduleWorst.maxRel, maxRel);
  });
}

test('module parity summary', (t) => {
  t.diagnostic(`modules: max abs error ${moduleWorst.maxAbs.toExponential(2)} (${moduleWorst.case}), max rel error ${moduleWorst.maxRel.toExponential(2)}`);
  assert.ok(moduleWorst.case !== '');
});

// ---- optimizers ----

/** loss = sum(scale * (p - target)^2) over a matrix and a vector: an ill-conditioned quadratic (scales 0.1..10). */
function quadratic(seed: number) {
  const g = gen(seed);
  const W = Tensor.randn([3, 4], { generator: g, requiresGrad: true });
  const b = Tensor.randn([4], { generator: g, requiresGrad: true });
  const targets = [Tensor.randn([3, 4], { generator: g }), Tensor.randn([4], { generator: g })];
  const scales = [Tensor.rand([3, 4], { generator: g, low: 0.1, high: 10 }), Tensor.rand([4], { generator: g, low: 0.1, high: 10 })];
  const loss = () => [W, b].reduce((acc, p, i) => acc + sum(mul(scales[i], mul(sub(p, targets[i]), sub(p, targets[i])))).item(), 0);
  const lossT = () => {
    const parts = [W, b].map((p, i) => sum(mul(scales[i], mul(sub(p, targets[i]), sub(p, targets[i])))));
    return parts[0].add(parts[1]);
  };
  return { W, b, targets, loss, lossT };
}

function train(opt: Optimizer<any>, lossT: () => Tensor, steps: number): void {
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    lossT().backward();
    opt.step();
  }
}

test('AdamW minimises a small quadratic (weightDecay 0): parameters reach the targets', () => {
  const q = quadratic(1);
  const start = q.loss();
  train(new AdamW([q.W, q.b], { lr: 0.05, weightDecay: 0 }), q.lossT, 600);
  assert.ok(q.loss() < 1e-6 * start, `loss ${start} -> ${q.loss()}`);
  assertClose(q.W, q.targets[0], { rtol: 0, atol: 1e-3 }, 'W');
  assertClose(q.b, q.targets[1], { rtol: 0, atol: 1e-3 }, 'b');
});

test('AdamW with amsgrad and SGD with nesterov momentum minimise it too', () => {
  const q1 = quadratic(2);
  const s1 = q1.loss();
  train(new AdamW([q1.W, q1.b], { lr: 0.05, weightDecay: 0, amsgrad: true }), q1.lossT, 600);
  assert.ok(q1.loss() < 1e-5 * s1, `amsgrad loss ${s1} -> ${q1.loss()}`);
  const q2 = quadratic(3);
  const s2 = q2.loss();
  // lr * max scale * 2 < 2 keeps SGD stable on the stiffest coordinate.
  train(new SGD([q2.W, q2.b], { lr: 0.02, momentum: 0.9, nesterov: true }), q2.lossT, 400);
  assert.ok(q2.loss() < 1e-6 * s2, `SGD loss ${s2} -> ${q2.loss()}`);
});

test('AdamW decoupled weight decay: with a zero gradient p shrinks by exactly (1 - lr * wd) per step', () => {
  const W = Tensor.fromArray([[1, -2], [3, 4]], undefined, true);
  const opt = new AdamW([W], { lr: 0.1, weightDecay: 0.5 });
  W.grad = Tensor.zeros([2, 2]);
  opt.step();
  opt.step();
  // m = v = 0, so the Adam term is 0 / (0 + eps) = 0: only the decay acts.
  assertClose(W.data, [1, -2, 3, 4].map((v) => v * 0.95 * 0.95), { rtol: 1e-7, atol: 0 }, 'decayed W');
});

test('weightDecayGroups: matrices decay, vectors do not (nanoGPT), and AdamW honours the groups', () => {
  const m = new Model(1);
  const groups = weightDecayGroups(m.parameters(), 0.1);
  assert.equal(groups[0].weightDecay, 0.1);
  assert.equal(groups[1].weightDecay, 0);
  assert.ok([...groups[0].params].every((p) => p.ndim >= 2) && [...groups[0].params].length === 1 + 2 * 2);
  assert.ok([...groups[1].params].every((p) => p.ndim === 1) && [...groups[1].params].length === 2 * 4 + 1);
  const opt = new AdamW(groups, { lr: 0.1 });
  assert.equal(opt.paramGroups[0].weightDecay, 0.1);
  assert.equal(opt.paramGroups[1].weightDecay, 0);
  assert.equal(opt.paramGroups[1].lr, 0.1);
  const vec = m.final.weight;
  const mat = m.emb.weight;
  const [v0, m0] = [vec.data[0], mat.data[0]];
  vec.grad = Tensor.zeros(vec.shape);
  mat.grad = Tensor.zeros(mat.shape);
  opt.step();
  assert.equal(vec.data[0], v0);
  assert.equal(mat.data[0], Math.fround(m0 * (1 - 0.1 * 0.1)));
});

test('parameters without a gradient are skipped: unchanged, and no state (no step counted)', () => {
  const a = param([2, 2], 1);
  const b = param([3], 2);
  const b0 = [...b.data];
  for (const opt of [new AdamW([a, b]), new SGD([a, b], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 })]) {
    a.grad = Tensor.ones([2, 2]);
    b.grad = null;
    opt.step();
    assert.deepEqual([...b.data], b0);
    const sd = opt.stateDict();
    assert.ok(sd.state[0] !== undefined && sd.state[1] === undefined, `${opt.name}: state only for the stepped parameter`);
  }
});

test('zeroGrad clears every gradient; lr changed on a group takes effect at the next step', () => {
  const p = Tensor.fromArray([1, 2], undefined, true);
  const opt = new SGD([p], { lr: 0.1 });
  p.grad = Tensor.fromArray([1, 1]);
  opt.zeroGrad();
  assert.equal(p.grad, null);
  p.grad = Tensor.fromArray([1, 1]);
  opt.paramGroups[0].lr = 0.5;
  opt.step();
  assert.deepEqual([...p.data], [0.5, 1.5]);
});

for (const kind of ['AdamW', 'AdamW amsgrad', 'SGD'] as const) {
  test(`${kind}: stateDict/loadStateDict resume bit for bit in a fresh model and optimizer`, () => {
    const make = (ps: Tensor[]) =>
      kind === 'SGD'
        ? new SGD([{ params: [ps[0]], weightDecay: 0.1 }, { params: [ps[1]] }], { lr: 0.05, momentum: 0.9, dampening: 0.1 })
        : new AdamW([{ params: [ps[0]], weightDecay: 0.1 }, { params: [ps[1]], weightDecay: 0 }], { lr: 0.01, amsgrad: kind === 'AdamW amsgrad' });
    const grads = Array.from({ length: 6 }, (_, k) => [Tensor.randn([3, 4], { generator: gen(10 + k) }), Tensor.randn([4], { generator: gen(20 + k) })]);
    const run = (opt: Optimizer<any>, ps: Tensor[], from: number, to: number) => {
      for (let k = from; k < to; k++) {
        ps.forEach((p, i) => (p.grad = grads[k][i].clone()));
        opt.step();
      }
    };
    // Straight through: 6 steps.
    const ref = [param([3, 4], 1), param([4], 2)];
    run(make(ref), ref, 0, 6);
    // 3 steps, snapshot (model and optimizer), 1 more step on the original (must not alter the snapshot),
    // then a fresh model and optimizer resume from the snapshot for steps 3..5.
    const ps = [param([3, 4], 1), param([4], 2)];
    const opt = make(ps);
    run(opt, ps, 0, 3);
    opt.paramGroups[1].lr = 0.02; // hyperparameters are part of the snapshot...
    const sd = opt.stateDict();
    const saved = ps.map((p) => p.clone());
    run(opt, ps, 3, 4);
    const fresh = [param([3, 4], 3), param([4], 4)];
    fresh.forEach((p, i) => p.data.set(saved[i].data));
    const opt2 = make(fresh);
    opt2.loadStateDict(sd);
    assert.equal(opt2.paramGroups[1].lr, 0.02); // ...and come back with it
    opt2.paramGroups[1].lr = opt2.defaults.lr; // back to the reference's value for the comparison
    run(opt2, fresh, 3, 6);
    fresh.forEach((p, i) => assert.deepEqual([...p.data], [...ref[i].data], `parameter ${i} after resuming`));
  });
}

test('optimizer stateDict is a snapshot: later steps do not change it', () => {
  const p = param([3], 1);
  const opt = new AdamW([p]);
  p.grad = Tensor.ones([3]);
  opt.step();
  const sd = opt.stateDict();
  const m = [...(sd.state[0].expAvg as Tensor).data];
  opt.step();
  assert.deepEqual([...(sd.state[0].expAvg as Tensor).data], m);
  assert.equal(sd.state[0].step, 1);
  assert.deepEqual(sd.paramGroups, [{ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false, params: [0] }]);
});

test('optimizer errors: bad params, hyperparameters and state dicts are named', () => {
  const p = param([2, 2], 1);
  assert.throws(() => new AdamW([]), /AdamW: got an empty parameter list/);
  assert.throws(() => new AdamW([{ params: [p] }, { params: [p] }]), /AdamW: group 1 parameter 0 \[2,2\] appears more than once/);
  assert.throws(() => new SGD([p.mul(2)], { lr: 0.1 }), /SGD: group 0 parameter 0 \[2,2\] is not a leaf \(it was made by 'mul'\)/);
  assert.throws(() => new SGD([p], { lr: -1 }), /SGD: group 0: lr = -1 is out of range/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /SGD: group 0: nesterov needs momentum > 0 and dampening = 0/);
  assert.throws(() => new AdamW([{ params: [p], betas: [0.9, 1] }]), /AdamW: group 0: betas\[1\] = 1 is not in \[0, 1\)/);
  assert.throws(() => new AdamW([p], { eps: NaN }), /AdamW: group 0: eps = NaN is not a finite number/);
  const opt = new AdamW([p]);
  p.grad = Tensor.zeros([4]);
  assert.throws(() => opt.step(), /AdamW\.step: parameter \[2,2\] has a gradient of shape \[4\]/);
  p.grad = Tensor.ones([2, 2]);
  opt.step();
  const sd = opt.stateDict();
  const q = param([2, 3], 2);
  assert.throws(() => new AdamW([{ params: [p] }, { params: [q] }]).loadStateDict(sd), /AdamW\.loadStateDict: the state dict has 1 parameter groups but the optimizer has 2/);
  assert.throws(() => new AdamW([p, q]).loadStateDict(sd), /AdamW\.loadStateDict: group 0 has 1 parameters in the state dict but 2 in the optimizer/);
  const other = new AdamW([q]);
  assert.throws(() => other.loadStateDict(sd), /AdamW\.loadStateDict: state 'expAvg' of parameter 0 has shape \[2,2\] but the parameter has \[2,3\]/);
  assert.deepEqual(other.stateDict().state, {}, 'a failed load changes nothing');
});

test('optimizer step checks every group first: a NaN or string lr (a bad scheduler) is an error, not NaN parameters', () => {
  for (const make of [(p: Tensor) => new AdamW([p], { lr: 0.1 }), (p: Tensor) => new SGD([{ params: [p] }], { lr: 0.1, momentum: 0.9 })]) {
    const p = param([2, 2], 1);
    const q = param([3], 2);
    const opt = make(p);
    p.grad = Tensor.ones([2, 2]);
    opt.step();
    const before = [...p.data];
    const sd = opt.stateDict();
    for (const [key, value, msg] of [
      ['lr', NaN, /\.step: group 0: lr = NaN is not a finite number/],
      ['lr', '0.1', /\.step: group 0: lr must be a number, got string '0\.1'/],
      ['lr', undefined, /\.step: group 0: lr must be a number, got undefined/],
      ['weightDecay', Infinity, /\.step: group 0: weightDecay = Infinity is not a finite number/],
      ['lr', -0.5, /\.step: group 0: lr = -0\.5 is out of range/],
    ] as const) {
      const g = opt.paramGroups[0] as unknown as Record<string, unknown>;
      const saved = g[key];
      g[key] = value;
      assert.throws(() => opt.step(), new RegExp(`^Error: ${opt.name}${msg.source}`));
      g[key] = saved;
    }
    assert.deepEqual([...p.data], before, `${opt.name}: no parameter changed`);
    assert.deepEqual(opt.stateDict().state[0], sd.state[0], `${opt.name}: no state changed`);
    void q;
  }
  const opt = new AdamW([param([2], 3)]);
  (opt.paramGroups[0] as { betas: unknown }).betas = [0.9, NaN];
  assert.throws(() => opt.step(), /AdamW\.step: group 0: betas\[1\] = NaN is not a finite number/);
});

test('optimizer options: unknown keys are refused (snake_case gets its camelCase name), types are checked', () => {
  const p = param([2, 2], 1);
  assert.throws(() => new AdamW([p], { weight_decay: 0.1 } as Partial<AdamWOptions>), /AdamW: options: unknown option 'weight_decay' \(did you mean 'weightDecay'\?\); expected one of lr, betas, eps, weightDecay, amsgrad, maximize/);
  assert.throws(() => new SGD([p], { lr: 0.1, foreach: true } as unknown as SGDOptions), /SGD: options: unknown option 'foreach'; expected one of/);
  assert.throws(() => new SGD([{ params: [p], Momentum: 0.9 } as unknown as ParamGroupSpec<SGDOptions>], { lr: 0.1 }), /SGD: group 0: unknown option 'Momentum' \(did you mean 'momentum'\?\)/);
  assert.throws(() => new SGD([p], { lr: 0.1, momentum: '0.9' as unknown as number }), /SGD: group 0: momentum must be a number, got string '0\.9'/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: 'false' as unknown as boolean }), /SGD: group 0: nesterov must be true or false, got string 'false'/);
  assert.throws(() => new AdamW([p], { amsgrad: 1 as unknown as boolean }), /AdamW: group 0: amsgrad must be true or false, got 1/);
  assert.throws(() => new AdamW([p], { betas: '0.9,0.99' as unknown as [number, number] }), /AdamW: group 0: betas must be \[beta1, beta2\], got string '0\.9,0\.99'/);
  assert.throws(() => new AdamW([p], 0.1 as unknown as Partial<AdamWOptions>), /AdamW: options must be an object such as \{ lr: 0\.001 \}, got 0\.1/);
  assert.throws(() => new SGD([p], {} as { lr: number }), /SGD: group 0: lr must be a number, got undefined/);
  // lr may come from the groups instead.
  assert.equal(new SGD([{ params: [p], lr: 0.2 }], {} as { lr: number }).paramGroups[0].lr, 0.2);
});

test('optimizer params: a lone Tensor or a Module gets a message saying what to pass', () => {
  const m = new MLP(2, 3);
  const p = m.fc.weight;
  assert.throws(() => new SGD(p as unknown as Tensor[], { lr: 0.1 }), /SGD: params is a single Tensor \[3,2\]; pass a list of tensors \(\[t\]\) or model\.parameters\(\)/);
  assert.throws(() => new AdamW(m as unknown as Tensor[]), /AdamW: params is a Module \(MLP\); pass model\.parameters\(\)/);
  assert.throws(() => new AdamW([m] as unknown as Tensor[]), /AdamW: params element 0 is a Module \(MLP\); pass model\.parameters\(\)/);
  assert.throws(() => new AdamW([{ params: p }] as unknown as Tensor[]), /AdamW: group 0 params is a single Tensor \[3,2\]/);
  assert.throws(() => new AdamW([{ params: m }] as unknown as Tensor[]), /AdamW: group 0 params is a Module \(MLP\); pass model\.parameters\(\)/);
  assert.throws(() => new AdamW(undefined as unknown as Tensor[]), /AdamW: params must be a list of tensors \(model\.parameters\(\)\) or of parameter groups/);
  assert.throws(() => new AdamW([{ params: [p, 3] }] as unknown as Tensor[]), /AdamW: group 0 parameter 1 is 3, not a Tensor/);
  assert.equal(new AdamW(m.parameters()).paramGroups[0].params.length, 4);
});

test('optimizer stateDict names its optimizer; loadStateDict checks the name and every state entry', () => {
  const p = param([2, 2], 1);
  const adam = new AdamW([p], { amsgrad: true });
  p.grad = Tensor.ones([2, 2]);
  adam.step();
  const sd = adam.stateDict();
  assert.equal(sd.optimizer, 'AdamW');
  const sgd = new SGD([p], { lr: 0.1, momentum: 0.9 });
  sgd.step();
  assert.equal(sgd.stateDict().optimizer, 'SGD');
  assert.throws(() => sgd.loadStateDict(sd), /SGD\.loadStateDict: the state dict is from 'AdamW', not SGD/);
  assert.throws(() => new AdamW([p]).loadStateDict(sgd.stateDict()), /AdamW\.loadStateDict: the state dict is from 'SGD', not AdamW/);
  const { optimizer: _, ...unnamed } = sd;
  assert.throws(() => new AdamW([p]).loadStateDict(unnamed as OptimizerStateDict), /AdamW\.loadStateDict: the state dict does not name its optimizer/);

  const fresh = () => new AdamW([param([2, 2], 2)], { amsgrad: true });
  const edit = (f: (s: Record<string, unknown>) => void): OptimizerStateDict => {
    const copy = adam.stateDict();
    f(copy.state[0] as Record<string, unknown>);
    return copy;
  };
  const target = fresh();
  assert.throws(() => target.loadStateDict(edit((s) => delete s.expAvgSq)), /AdamW\.loadStateDict: state of parameter 0 \[2,2\] has no 'expAvgSq' \(AdamW keeps expAvg, expAvgSq, maxExpAvgSq, step\)/);
  assert.throws(() => target.loadStateDict(edit((s) => delete s.step)), /has no 'step'/);
  assert.throws(() => target.loadStateDict(edit((s) => (s.exp_avg = s.expAvg))), /state of parameter 0 \[2,2\]: unknown entry 'exp_avg' \(did you mean 'expAvg'\?\)/);
  assert.throws(() => target.loadStateDict(edit((s) => (s.expAvg = 0))), /'expAvg' is 0, not a Tensor/);
  assert.throws(() => target.loadStateDict(edit((s) => (s.step = 1.5))), /'step' must be an integer >= 0, got 1\.5/);
  assert.throws(() => target.loadStateDict(edit((s) => (s.maxExpAvgSq = Tensor.zeros([2, 2]).toBool()))), /'maxExpAvgSq' must be float32, got bool/);
  const badGroup = adam.stateDict();
  badGroup.paramGroups[0].weight_decay = 0.1;
  assert.throws(() => target.loadStateDict(badGroup), /AdamW\.loadStateDict: group 0 of the state dict: unknown hyperparameter 'weight_decay' \(did you mean 'weightDecay'\?\)/);
  const nanLr = adam.stateDict();
  nanLr.paramGroups[0].lr = NaN;
  assert.throws(() => target.loadStateDict(nanLr), /AdamW\.loadStateDict: group 0 of the state dict: lr = NaN is not a finite number/);
  assert.deepEqual(target.stateDict().state, {}, 'failed loads change nothing');
  // SGD needs its momentum buffer.
  const sgdSd = sgd.stateDict();
  delete (sgdSd.state[0] as Record<string, unknown>).momentumBuffer;
  assert.throws(() => new SGD([p], { lr: 0.1, momentum: 0.9 }).loadStateDict(sgdSd), /SGD\.loadStateDict: state of parameter 0 \[2,2\] has no 'momentumBuffer'/);
});

test('optimizer state dict through JSON: refused with a clear error; rebuilt tensors load and resume bit for bit', () => {
  const p = param([2, 3], 1);
  const opt = new AdamW([p], { lr: 0.01 });
  const grads = [1, 2, 3].map((k) => Tensor.randn([2, 3], { generator: gen(k) }));
  p.grad = grads[0];
  opt.step();
  const saved = { p: p.detach().clone(), sd: JSON.stringify(opt.stateDict()) };
  for (const g of grads.slice(1)) {
    p.grad = g;
    opt.step();
  }
  const parsed = JSON.parse(saved.sd) as OptimizerStateDict;
  const q = saved.p.clone().detach();
  q.requiresGrad = true;
  const opt2 = new AdamW([q], { lr: 0.01 });
  assert.throws(() => opt2.loadStateDict(parsed), /AdamW\.loadStateDict: state of parameter 0 \[2,3\]: 'expAvg' is an object \(Object\), not a Tensor \(a JSON round trip turns Tensors into plain objects/);
  // The documented way: rebuild each tensor from its shape and data.
  for (const s of Object.values(parsed.state) as Record<string, unknown>[]) {
    for (const [k, v] of Object.entries(s)) {
      if (typeof v === 'object' && v !== null) {
        const t = v as { shape: number[]; data: Record<string, number> };
        s[k] = new Tensor(Float32Array.from(Object.values(t.data)), t.shape);
      }
    }
  }
  opt2.loadStateDict(parsed);
  for (const g of grads.slice(1)) {
    q.grad = g;
    opt2.step();
  }
  assert.deepEqual([...q.data], [...p.data]);
});

// ---- clipGradNorm ----

test('clipGradNorm: total norm over all grads; scales by maxNorm / (norm + 1e-6) when that is below 1', () => {
  const a = Tensor.zeros([2], true);
  const b = Tensor.zeros([1], true);
  const c = Tensor.zeros([3], true); // no grad: skipped
  a.grad = Tensor.fromArray([3, 0]);
  b.grad = Tensor.fromArray([4]);
  assert.equal(clipGradNorm([a, b, c], 10), 5);
  assert.deepEqual([...a.grad.data, ...b.grad.data], [3, 0, 4]); // unchanged below the limit
  assert.equal(c.grad, null);
  // Exactly at the limit PyTorch still scales, by 5 / (5 + 1e-6) (its coefficient is below 1 as soon as
  // norm + 1e-6 > maxNorm): a change of 2e-7 relative, kept for parity.
  assert.equal(clipGradNorm([a, b, c], 5), 5);
  assert.deepEqual([...a.grad.data, ...b.grad.data], [3, 0, 4].map((v) => Math.fround(v * (5 / (5 + 1e-6)))));
  a.grad = Tensor.fromArray([3, 0]);
  b.grad = Tensor.fromArray([4]);
  assert.equal(clipGradNorm([a, b], 1), 5);
  assertClose([...a.grad.data, ...b.grad.data], [3 / (5 + 1e-6), 0, 4 / (5 + 1e-6)], { rtol: 1e-7, atol: 0 }, 'clipped');
  assert.ok(Math.abs(clipGradNorm([a, b], 1) - 1) < 1e-6, 'the clipped norm is just under maxNorm');
  assert.equal(clipGradNorm([c], 1), 0);
  assert.equal(clipGradNorm([], 1), 0);
  assert.throws(() => clipGradNorm([a], -1), /clipGradNorm: maxNorm = -1 must be a finite number >= 0/);
});

test('clipGradNorm with a non-finite gradient returns the non-finite norm (as PyTorch, to let the caller skip the step)', () => {
  const a = Tensor.zeros([2], true);
  a.grad = Tensor.fromArray([Infinity, 1]);
  assert.equal(clipGradNorm([a], 1), Infinity);
  a.grad = Tensor.fromArray([NaN, 1]);
  assert.ok(Number.isNaN(clipGradNorm([a], 1)));
  assert.ok(Number.isNaN(a.grad.data[1]));
});

test('noGrad: optimizer steps need no graph, and a module forward inside noGrad records none', () => {
  const m = new MLP(3, 5, { generator: gen(1) });
  const y = noGrad(() => m.forward(Tensor.ones([2, 3])));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
});
