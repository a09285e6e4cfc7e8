#!/usr/bin/env node
// The ONNX Runtime peer of `irnn bench` (npm onnxruntime-node, installed with
// `npm install --prefix bench onnxruntime-node`): per-time-step latency of one LSTM layer and one GRU
// layer (--cells), input = hidden = H, for every H x B x threads, in sequence mode (one session.run over
// [T][B][H]) and streaming mode (T runs over [1][B][H], Y_h (and the LSTM's Y_c) fed back as initial_h
// (and initial_c)).
//
// It writes the ONNX models itself, as protobuf bytes (no Python, no onnx package):
//   fp32: one ai.onnx LSTM node (opset 14), weights W, R and B as float initializers.
//   int8: one com.microsoft DynamicQuantizeLSTM node: what onnxruntime.quantization.quantize_dynamic
//         makes of that LSTM (its LSTMQuant operator): W and R quantized to int8, symmetric, one scale per
//         gate row (zero point 0), stored transposed as [1][input][4H]; inputs quantized to uint8 at run
//         time by the kernel (dynamic quantization), float bias, float states.
//   GRU fp32: one ai.onnx GRU node (opset 14) with linear_before_reset = 1 (PyTorch's GRU; ONNX gate
//         order z, r, h: random weights, so the order changes nothing timed).
//   GRU int8: none. ONNX Runtime has no quantized GRU operator (com.microsoft has DynamicQuantizeLSTM
//         but no GRU counterpart, and quantize_dynamic leaves GRU nodes in float): reported as skipped.
// Sessions: intraOpNumThreads = threads, interOpNumThreads = 1, sequential execution, all graph
// optimizations. Each figure is the median of --repeats timed runs after one warm-up run, in microseconds
// per time step. Every call goes through Node.js and the onnxruntime-node binding (an async call per
// session.run): that overhead is part of the figure, and weighs most in streaming mode.
//
// Usage: node ort_lstm.js [--hidden 128,256] [--batch 1,16] [--threads 1,2] [--steps 100] [--repeats 7]
//                         [--seed 1] [--cells lstm,gru] [--jsonl]
// Output: one JSON object (default), or with --jsonl one flat JSON object per line:
//   {"type":"info",...}  {"type":"result","cell":...,...}  {"type":"skip","cell":...,"precision":...,"reason":...}

'use strict';

function parseArgs(argv) {
  const o = { hidden: [128, 256, 512, 1024], batch: [1, 16], threads: [1, 2], steps: 100, repeats: 7, seed: 1, jsonl: false, cells: ['lstm', 'gru'] };
  const list = (s) => s.split(',').map((v) => Number.parseInt(v, 10));
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--hidden') o.hidden = list(next());
    else if (a === '--batch') o.batch = list(next());
    else if (a === '--threads') o.threads = list(next());
    else if (a === '--steps') o.steps = Number.parseInt(next(), 10);
    else if (a === '--repeats') o.repeats = Number.parseInt(next(), 10);
    else if (a === '--seed') o.seed = Number.parseInt(next(), 10);
    else if (a === '--jsonl') o.jsonl = true;
    else if (a === '--cells') o.cells = next().split(',');
    else throw new Error(`unknown option ${a}`);
  }
  for (const [name, v] of [['--hidden', o.hidden], ['--batch', o.batch], ['--threads', o.threads], ['--steps', [o.steps]], ['--repeats', [o.repeats]]]) {
    if (v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${name} must list integers >= 1`);
  }
  if (o.cells.length === 0 || o.cells.some((c) => c !== 'lstm' && c !== 'gru')) throw new Error('--cells must list lstm, gru');
  return o;
}

// ---- A minimal protobuf writer (proto3 wire format) for the few ONNX messages needed ----------------

function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;  // two's complement, 10 bytes
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return Buffer.from(out);
}
const tag = (field, wire) => varint((field << 3) | wire);
const fInt = (field, v) => Buffer.concat([tag(field, 0), varint(v)]);
const fBytes = (field, bytes) => Buffer.concat([tag(field, 2), varint(bytes.length), bytes]);
const fStr = (field, s) => fBytes(field, Buffer.from(s, 'utf8'));
const fMsg = (field, parts) => fBytes(field, Buffer.concat(parts));

const FLOAT = 1;
const INT8 = 3;

// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian).
function tensor(name, dims, dataType, typed) {
  const raw = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
  return [...dims.map((d) => fInt(1, d)), fInt(2, dataType), fStr(8, name), fBytes(9, raw)];
}
// ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } } } }
function valueInfo(name, elemType, dims) {
  const dimMsgs = dims.map((d) => fMsg(1, [typeof d === 'number' ? fInt(1, d) : fStr(2, d)]));
  return [fStr(1, name), fMsg(2, [fMsg(1, [fInt(1, elemType), fMsg(2, dimMsgs)])])];
}
// AttributeProto { name = 1, i = 3, type = 20 (INT = 2) }
const attrInt = (name, v) => [fStr(1, name), fInt(3, v), fInt(20, 2)];
// NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5, domain = 7 }
function node(opType, inputs, outputs, attrs, domain) {
  return [...inputs.map((s) => fStr(1, s)), ...outputs.map((s) => fStr(2, s)), fStr(3, `${opType}_0`), fStr(4, opType),
    ...attrs.map((a) => fMsg(5, a)), ...(domain ? [fStr(7, domain)] : [])];
}
// ModelProto { ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { domain = 1, version = 2 } }
// GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12 }
function model(nodeParts, initializers, inputs, outputs, opsets) {
  const graph = [fMsg(1, nodeParts), fStr(2, 'lstm'), ...initializers.map((t) => fMsg(5, t)),
    ...inputs.map((v) => fMsg(11, v)), ...outputs.map((v) => fMsg(12, v))];
  return Buffer.concat([fInt(1, 8), fStr(2, 'irnn bench'), fMsg(7, graph),
    ...opsets.map(([domain, version]) => fMsg(8, [fStr(1, domain), fInt(2, version)]))]);
}

// ---- The models ----------------------------------------------------------------------------------------

function rng(seed) {  // mulberry32: deterministic uniform [0, 1)
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// G = 4 gates (LSTM) or 3 (GRU).
function lstmWeights(H, seed, G = 4) {
  const r = rng(seed + H);
  const a = 1 / Math.sqrt(H);
  const uniform = (n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  return { W: uniform(G * H * H, -a, a), R: uniform(G * H * H, -a, a), B: uniform(2 * G * H, -a, a) };
}

const graphIo = (H) => ({
  inputs: [valueInfo('X', FLOAT, ['T', 'B', H]), valueInfo('initial_h', FLOAT, [1, 'B', H]), valueInfo('initial_c', FLOAT, [1, 'B', H])],
  outputs: [valueInfo('Y', FLOAT, ['T', 1, 'B', H]), valueInfo('Y_h', FLOAT, [1, 'B', H]), valueInfo('Y_c', FLOAT, [1, 'B', H])],
});

function fp32Model(H, w) {
  const io = graphIo(H);
  return model(node('LSTM', ['X', 'W', 'R', 'B', '', 'initial_h', 'initial_c'], ['Y', 'Y_h', 'Y_c'], [attrInt('hidden_size', H)]),
    [tensor('W', [1, 4 * H, H], FLOAT, w.W), tensor('R', [1, 4 * H, H], FLOAT, w.R), tensor('B', [1, 8 * H], FLOAT, w.B)],
    io.inputs, io.outputs, [['', 14]]);
}

function gruFp32Model(H, w) {
  const inputs = [valueInfo('X', FLOAT, ['T', 'B', H]), valueInfo('initial_h', FLOAT, [1, 'B', H])];
  const outputs = [valueInfo('Y', FLOAT, ['T', 1, 'B', H]), valueInfo('Y_h', FLOAT, [1, 'B', H])];
  return model(node('GRU', ['X', 'W', 'R', 'B', '', 'initial_h'], ['Y', 'Y_h'],
    [attrInt('hidden_size', H), attrInt('linear_before_reset', 1)]),
  [tensor('W', [1, 3 * H, H], FLOAT, w.W), tensor('R', [1, 3 * H, H], FLOAT, w.R), tensor('B', [1, 6 * H], FLOAT, w.B)],
  inputs, outputs, [['', 14]]);
}

// m [4H][K] float -> int8 [K][4H] (transposed, as DynamicQuantizeLSTM reads it) and per-row scales.
function quantizeTransposed(m, rows, cols) {
  const q = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  for (let r = 0; r < rows; ++r) {
    let max = 0;
    for (let k = 0; k < cols; ++k) max = Math.max(max, Math.abs(m[r * cols + k]));
    scale[r] = max > 0 ? max / 127 : 1;
    for (let k = 0; k < cols; ++k) q[k * rows + r] = Math.max(-127, Math.min(127, Math.round(m[r * cols + k] / scale[r])));
  }
  return { q, scale, zp: new Int8Array(rows) };
}

function int8Model(H, w) {
  const io = graphIo(H);
  const qw = quantizeTransposed(w.W, 4 * H, H);
  const qr = quantizeTransposed(w.R, 4 * H, H);
  const inputs = ['X', 'W_q', 'R_q', 'B', '', 'initial_h', 'initial_c', '', 'W_scale', 'W_zero_point', 'R_scale', 'R_zero_point'];
  return model(node('DynamicQuantizeLSTM', inputs, ['Y', 'Y_h', 'Y_c'], [attrInt('hidden_size', H)], 'com.microsoft'),
    [tensor('W_q', [1, H, 4 * H], INT8, qw.q), tensor('R_q', [1, H, 4 * H], INT8, qr.q), tensor('B', [1, 8 * H], FLOAT, w.B),
      tensor('W_scale', [1, 4 * H], FLOAT, qw.scale), tensor('W_zero_point', [1, 4 * H], INT8, qw.zp),
      tensor('R_scale', [1, 4 * H], FLOAT, qr.scale), tensor('R_zero_point', [1, 4 * H], INT8, qr.zp)],
    io.inputs, io.outputs, [['', 14], ['com.microsoft', 1]]);
}

// ---- Timing --------------------------------------------------------------------------------------------

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// One warm-up run, then `repeats` timed runs of fn (T steps each); per-step microseconds.
async function timeSteps(steps, repeats, fn) {
  await fn();
  const us = [];
  for (let r = 0; r < repeats; ++r) {
    const t0 = process.hrtime.bigint();
    await fn();
    us.push(Number(process.hrtime.bigint() - t0) / 1000 / steps);
  }
  return { median: median(us), min: Math.min(...us), max: Math.max(...us) };
}

async function benchShape(ort, bytes, H, B, threads, o, cell) {
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const T = o.steps;
  const r = rng(o.seed ^ 0x9e3779b9);
  const x = Float32Array.from({ length: T * B * H }, () => 2 * r() - 1);
  const zero = new ort.Tensor('float32', new Float32Array(B * H), [1, B, H]);
  const X = new ort.Tensor('float32', x, [T, B, H]);
  const gru = cell === 'gru';
  const sequence = await timeSteps(T, o.repeats, async () => {
    if (gru) await session.run({ X, initial_h: zero }, ['Y', 'Y_h']);
    else await session.run({ X, initial_h: zero, initial_c: zero }, ['Y', 'Y_h', 'Y_c']);
  });
  const frames = [];
  for (let t = 0; t < T; ++t) frames.push(new ort.Tensor('float32', x.slice(t * B * H, (t + 1) * B * H), [1, B, H]));
  const streaming = await timeSteps(T, o.repeats, async () => {
    let h = zero;
    let c = zero;
    for (let t = 0; t < T; ++t) {
      if (gru) {
        h = (await session.run({ X: frames[t], initial_h: h }, ['Y_h'])).Y_h;
      } else {
        const out = await session.run({ X: frames[t], initial_h: h, initial_c: c }, ['Y_h', 'Y_c']);
        h = out.Y_h;
        c = out.Y_c;
      }
    }
  });
  if (typeof session.release === 'function') await session.release();
  return { sequence, streaming };
}

async function main() {
  const o = parseArgs(process.argv);
  const results = [];
  const skipped = [];
  const lines = o.jsonl;
  const emit = (obj) => { if (lines) process.stdout.write(`${JSON.stringify(obj)}\n`); };
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    for (const cell of o.cells) {
      for (const precision of ['fp32', 'int8']) {
        const s = { type: 'skip', cell, precision, threads: 0, reason: `onnxruntime-node not installed: ${String(e.message).split('\n')[0].replace(/"/g, "'")}` };
        skipped.push(s);
        emit(s);
      }
    }
    if (!lines) process.stdout.write(`${JSON.stringify({ runtime: 'onnxruntime', results, skipped })}\n`);
    return;
  }
  const version = (ort.env && ort.env.versions && ort.env.versions.common) || 'unknown';
  emit({ type: 'info', runtime: 'onnxruntime', version, node: process.version });
  for (const cell of o.cells) {
    for (const precision of ['fp32', 'int8']) {
      if (cell === 'gru' && precision === 'int8') {
        const s = {
          type: 'skip', cell, precision, threads: 0,
          reason: `ONNX Runtime ${version} has no int8 GRU operator (com.microsoft has DynamicQuantizeLSTM but no GRU counterpart; quantize_dynamic leaves GRU in float)`,
        };
        skipped.push(s);
        emit(s);
        continue;
      }
      let failed = false;
      for (const threads of o.threads) {
        for (const H of o.hidden) {
          const w = lstmWeights(H, o.seed, cell === 'gru' ? 3 : 4);
          const bytes = cell === 'gru' ? gruFp32Model(H, w) : precision === 'fp32' ? fp32Model(H, w) : int8Model(H, w);
          const variant = cell === 'gru' ? 'GRU' : precision === 'fp32' ? 'LSTM' : 'DynamicQuantizeLSTM';
          for (const B of o.batch) {
            if (failed) continue;
            try {
              const t = await benchShape(ort, bytes, H, B, threads, o, cell);
              for (const [mode, m] of [['sequence', t.sequence], ['streaming', t.streaming]]) {
                const res = {
                  type: 'result', cell, runtime: 'onnxruntime', precision, variant, mode, hidden: H, batch: B,
                  steps: o.steps, threads, repeats: o.repeats, us_per_step: m.median, us_min: m.min, us_max: m.max,
                };
                results.push(res);
                emit(res);
              }
            } catch (e) {
              const s = { type: 'skip', cell, precision, threads: 0, reason: `ONNX Runtime error: ${String(e.message).split('\n')[0].replace(/"/g, "'")}` };
              skipped.push(s);
              emit(s);
              failed = true;
            }
          }
        }
      }
    }
  }
  if (!lines) process.stdout.write(`${JSON.stringify({ runtime: 'onnxruntime', version, node: process.version, results, skipped }, null, 1)}\n`);
}

main().catch((e) => {
  process.stderr.write(`ort_lstm.js: error: ${e.message}\n`);
  process.exit(1);
});
