import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attentionGridSvg, attentionHeatmapSvg } from '../src/viz/svg-heatmap.js';
import { lineChartSvg, linearTicks, logTicks } from '../src/viz/svg-line-chart.js';
import { blues, escapeXml, stackSvgs, textOn } from '../src/viz/svg.js';

/**
 * A small XML well-formedness check (no dependency): tags balance and nest, attribute values are
 * quoted, and text and attributes hold no raw '<' and only known entities after '&'.
 */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith('<svg '), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  const entity = /&(?:amp|lt|gt|quot|#39);/g;
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const text = svg.slice(last, m.index);
    assert.ok(!/[<>]/.test(text), `raw < or > in text before offset ${m.index}: ${JSON.stringify(text.slice(0, 80))}`);
    assert.ok(!text.replace(entity, '').includes('&'), `bare & in text: ${JSON.stringify(text)}`);
    assert.ok(!m[3].replace(entity, '').includes('&'), `bare & in attributes: ${m[3]}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    else if (!selfClose) stack.push(name);
  }
  assert.equal(svg.slice(last).trim(), '', 'nothing after the root');
  assert.deepEqual(stack, [], 'every element closed');
  // Anything the tag pattern did not consume (e.g. an unquoted attribute) shows up as a stray '<'.
  assert.equal((svg.match(/</g) ?? []).length, (svg.match(tag) ?? []).length, 'every < starts a well-formed tag');
}

function assertClean(svg: string): void {
  assert.ok(!svg.includes('NaN'), 'no NaN');
  assert.ok(!svg.includes('undefined'), 'no undefined');
  assert.ok(!svg.includes('Infinity'), 'no Infinity');
}

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

const reverse5 = Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => (j === 4 - i ? 0.62 : 0.095)));
const labels5 = ['0:7', '1:6', '2:3', '3:9', '4:5'];

test('attentionHeatmapSvg: well-formed, one cell per weight, labels, values in percent and a legend', () => {
  const svg = attentionHeatmapSvg(reverse5, labels5, labels5, { title: 'Layer 1, head 0' });
  assertWellFormed(svg);
  assertClean(svg);
  assert.equal(count(svg, /<rect class="cell"/g), 25);
  const t = texts(svg);
  for (const l of labels5) assert.equal(t.filter((x) => x === l).length, 2, `${l} labels a row and a column`);
  for (const word of ['query', 'key', 'Layer 1, head 0', '0%', '100%']) assert.ok(t.includes(word), word);
  assert.equal(t.filter((x) => x === '62%').length, 5);
  assert.equal(t.filter((x) => x === '10%').length, 20); // 9.5% rounds to 10
  assert.match(svg, /<linearGradient/); // the colour bar
  assert.equal(svg, attentionHeatmapSvg(reverse5, labels5, labels5, { title: 'Layer 1, head 0' }), 'pure: same input, same output');
});

test('attentionHeatmapSvg: non-square, escaped text, bad values and missing labels never leak into the file', () => {
  const w = [
    [0, 1, NaN, 0.5],
    [Infinity, -0.1, 1.2, 0.25],
    [0.1, 0.2, 0.3, 0.4],
  ];
  const svg = attentionHeatmapSvg(w, ['<q>', 'a & b'], ['"k"', "it's", 'x'], { title: 'Tom & Jerry <3 "quotes"' });
  assertWellFormed(svg);
  assertClean(svg);
  assert.equal(count(svg, /<rect class="cell"/g), 12);
  assert.ok(svg.includes('Tom &amp; Jerry &lt;3 &quot;quotes&quot;'));
  assert.ok(svg.includes('&lt;q&gt;') && svg.includes('a &amp; b') && svg.includes('&quot;k&quot;') && svg.includes('it&#39;s'));
  assert.ok(!svg.includes('<q>') && !svg.includes('Tom & Jerry'));
  assert.equal(count(svg, /fill="#bdbdbd"/g), 2, 'NaN and Infinity are grey cells');
  assert.match(svg, /class="cell"[^>]*fill="#ffffff"/, 'weight 0 is white');
  assert.match(svg, /class="cell"[^>]*fill="#08306b"/, 'weight 1 is the darkest blue');
  assertWellFormed(attentionHeatmapSvg([], [], [], {}));
  assertClean(attentionHeatmapSvg([], [], [], {}));
});

test('attentionHeatmapSvg: long sequences get small cells without numbers; long labels turn', () => {
  const n = 40;
  const w = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const labels = Array.from({ length: n }, (_, i) => `position ${i}`);
  const svg = attentionHeatmapSvg(w, labels, labels);
  assertWellFormed(svg);
  assert.equal(count(svg, /<rect class="cell"/g), n * n);
  assert.ok(!texts(svg).includes('100%') || texts(svg).filter((x) => x.endsWith('%')).length === 5, 'only the colour bar has percentages');
  assert.equal(count(svg, /rotate\(-90/g), n + 1, 'column labels and the query axis are vertical');
});

test('attentionGridSvg: one small heatmap per head with its title, one shared colour bar', () => {
  const panels = [0, 1, 2].flatMap((layer) => [0, 1].map((h) => ({ weights: reverse5, title: `layer ${layer}, head ${h}`, highlight: layer === 1 && h === 0 })));
  const svg = attentionGridSvg(panels, labels5, labels5, { title: 'Every head', columns: 2 });
  assertWellFormed(svg);
  assertClean(svg);
  assert.equal(count(svg, /<rect class="cell"/g), 6 * 25);
  for (const p of panels) assert.ok(texts(svg).includes(p.title));
  assert.match(svg, /font-weight="bold">layer 1, head 0</);
  assert.equal(count(svg, /<linearGradient/g), 1);
  assertWellFormed(attentionGridSvg([], [], []));
});

test('linearTicks: 1-2-5 steps, the domain ends on ticks, constant data gets a range', () => {
  const steps = (lo: number, hi: number) => {
    const { ticks, domain } = linearTicks(lo, hi);
    assert.equal(domain[0], ticks[0].value);
    assert.equal(domain[1], ticks[ticks.length - 1].value);
    assert.ok(domain[0] <= lo && domain[1] >= hi);
    const step = ticks[1].value - ticks[0].value;
    const mant = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
    assert.ok([1, 2, 5].some((m) => Math.abs(mant - m) < 1e-6), `step ${step} is 1, 2 or 5 times a power of ten`);
    return ticks.map((t) => t.label);
  };
  assert.deepEqual(steps(1, 300), ['0', '50', '100', '150', '200', '250', '300']);
  assert.deepEqual(steps(8.1, 41), ['5', '10', '15', '20', '25', '30', '35', '40', '45']);
  assert.deepEqual(steps(0.7, 2), ['0.6', '0.8', '1.0', '1.2', '1.4', '1.6', '1.8', '2.0']);
  assert.deepEqual(steps(-0.003, 0.003), ['-0.003', '-0.002', '-0.001', '0', '0.001', '0.002', '0.003']);
  assert.deepEqual(steps(2, 2), ['1.8', '1.9', '2.0', '2.1', '2.2']);
  assert.deepEqual(steps(0, 0), ['-1.0', '-0.5', '0', '0.5', '1.0']);
});

test('logTicks: decades over a wide range, 1-2-5 over a narrow one', () => {
  const labels = (lo: number, hi: number) => logTicks(lo, hi).ticks.filter((t) => !t.minor).map((t) => t.label);
  assert.deepEqual(labels(5e-4, 2.3), ['0.0001', '0.001', '0.01', '0.1', '1', '10']);
  assert.deepEqual(logTicks(5e-4, 2.3).domain, [1e-4, 10]);
  assert.deepEqual(labels(1.45, 2.4), ['1', '2', '5']);
  assert.deepEqual(labels(0.03, 0.7), ['0.02', '0.05', '0.1', '0.2', '0.5', '1']);
  assert.deepEqual(labels(2, 2), ['1', '2', '5']);
  assert.deepEqual(labels(1e-12, 1e3), ['1e-12', '1e-10', '1e-8', '1e-6', '0.0001', '0.01', '1', '100', '10000']);
  assert.deepEqual(logTicks(1e-30, 1e30).domain, [1e-32, 1e32]);
});

test('lineChartSvg: a log-y loss curve has decade ticks, gridlines, axis labels and a legend', () => {
  const loss = Array.from({ length: 300 }, (_, i): [number, number] => [i + 1, 2.3 * Math.exp(-i / 35) + 4e-4]);
  const svg = lineChartSvg([{ name: 'cross-entropy', points: loss }], { title: 'Training loss', xLabel: 'step', yLabel: 'loss', logY: true });
  assertWellFormed(svg);
  assertClean(svg);
  const yTicks = [...svg.matchAll(/text-anchor="end" dominant-baseline="central" font-size="12">([^<]*)</g)].map((m) => m[1]);
  assert.deepEqual(yTicks, ['0.0001', '0.001', '0.01', '0.1', '1', '10']);
  const t = texts(svg);
  for (const word of ['Training loss', 'step', 'loss', 'cross-entropy', '0', '150', '300']) assert.ok(t.includes(word), word);
  assert.equal(count(svg, /<path /g), 1);
  assert.ok(count(svg, /<line /g) > 20, 'gridlines, minor ones included');
});

test('lineChartSvg: empty, one-point, constant and unplottable series give a clean picture', () => {
  const cases: [string, Parameters<typeof lineChartSvg>[0], boolean][] = [
    ['no series', [], false],
    ['no series, log', [], true],
    ['empty series', [{ name: 'a', points: [] }], true],
    ['one point', [{ name: 'a', points: [[3, 0.7]] }], false],
    ['one point, log', [{ name: 'a', points: [[3, 0.7]] }], true],
    ['constant', [{ name: 'a', points: [[0, 2], [1, 2], [2, 2]] }], false],
    ['constant zero', [{ name: 'a', points: [[0, 0], [5, 0]] }], false],
    ['constant, log', [{ name: 'a', points: [[0, 1e-3], [1, 1e-3]] }], true],
    ['same x', [{ name: 'a', points: [[1, 1], [1, 2]] }], false],
    ['zeros and negatives on log', [{ name: 'a', points: [[0, 0], [1, -1], [2, 0.5]] }], true],
    ['all non-finite', [{ name: 'a', points: [[NaN, 1], [1, Infinity], [2, -Infinity]] }], false],
    ['huge and tiny', [{ name: 'a', points: [[0, 1e-30], [1e9, 1e30]] }], true],
  ];
  for (const [name, series, logY] of cases) {
    const svg = lineChartSvg(series, { title: name, xLabel: 'x', yLabel: 'y', logY });
    assertWellFormed(svg);
    assertClean(svg);
  }
  const one = lineChartSvg([{ name: 'a', points: [[3, 0.7]] }]);
  assert.equal(count(one, /<circle /g), 1, 'a lone point is a dot');
  assert.ok(texts(lineChartSvg([])).includes('no data'));
  // A gap in the data starts a new line segment.
  const gap = lineChartSvg([{ name: 'g', points: [[0, 1], [1, 2], [2, NaN], [3, 1], [4, 2]] }]);
  assert.equal(count(/d="([^"]*)"/.exec(gap)![1], /M/g), 2);
});

test('lineChartSvg: escaped names; yRange widens the axis; stackSvgs stacks documents', () => {
  const svg = lineChartSvg([{ name: 'a<b & c', points: [[0, 10], [10, 40]] }], { title: '"x" & y', yRange: [0, 100] });
  assertWellFormed(svg);
  assert.ok(svg.includes('a&lt;b &amp; c') && svg.includes('&quot;x&quot; &amp; y'));
  assert.ok(texts(svg).includes('100') && texts(svg).includes('0'));
  const stacked = stackSvgs([svg, lineChartSvg([], { height: 300 })]);
  assertWellFormed(stacked);
  assert.match(stacked, /^<svg [^>]*width="720" height="720"/);
  assert.equal(count(stacked, /<svg /g), 3);
});

test('svg helpers: escaping, colour ramp, text contrast', () => {
  assert.equal(escapeXml(`<a href="x">Tom & 'Jerry'</a>\u0001`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  assert.equal(blues(0), '#ffffff');
  assert.equal(blues(1), '#08306b');
  assert.equal(blues(-3), '#ffffff');
  assert.equal(blues(NaN), '#ffffff');
  assert.equal(blues(7), '#08306b');
  // Darker as the weight grows: the ramp never turns back.
  const lum = (h: string) => [1, 3, 5].reduce((s, i) => s + parseInt(h.slice(i, i + 2), 16), 0);
  for (let k = 1; k <= 100; k++) assert.ok(lum(blues(k / 100)) < lum(blues((k - 1) / 100)));
  assert.equal(textOn('#ffffff'), '#000000');
  assert.equal(textOn('#08306b'), '#ffffff');
});
