// tflite_check.js - runs a .tflite model in the official TensorFlow Lite interpreter (the
// WebAssembly build shipped by npm's @tensorflow/tfjs-tflite) on photos given as 24-bit BMP
// files of exactly the model's input size, and prints "FILE TOP1 SCORE TOP2 SCORE2" per photo
// (class indices and scores of the best two).
// Used by tests/train/train.sh to check that petal's exported graph runs in the official
// runtime with the same top-1 as `petal classify`.
//
//   node tflite_check.js NODE_MODULES_DIR MODEL.tflite IMAGE.bmp...
//   node tflite_check.js --crop SIZE IN.bmp OUT.bmp [X Y]  (SIZE x SIZE crop at X,Y, default
//                                                          the centre, written as a BMP)
'use strict';
const fs = require('fs');
const path = require('path');

// Decodes an uncompressed 24-bit bottom-up or top-down BMP into RGB bytes.
function readBmp(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 2) !== 'BM') throw new Error(file + ': not a BMP');
  const off = b.readUInt32LE(10);
  const w = b.readInt32LE(18);
  let h = b.readInt32LE(22);
  const bpp = b.readUInt16LE(28);
  if (bpp !== 24 || b.readUInt32LE(30) !== 0) throw new Error(file + ': not 24-bit BI_RGB');
  const topDown = h < 0;
  h = Math.abs(h);
  const stride = Math.floor((w * 3 + 3) / 4) * 4;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const row = off + (topDown ? y : h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      rgb[(y * w + x) * 3] = b[row + x * 3 + 2];
      rgb[(y * w + x) * 3 + 1] = b[row + x * 3 + 1];
      rgb[(y * w + x) * 3 + 2] = b[row + x * 3];
    }
  }
  return {w, h, rgb};
}

function writeBmp(file, w, h, rgb) {
  const stride = Math.floor((w * 3 + 3) / 4) * 4;
  const b = Buffer.alloc(54 + stride * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(stride * h, 34);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = 54 + (h - 1 - y) * stride + x * 3, i = (y * w + x) * 3;
      b[o] = rgb[i + 2];
      b[o + 1] = rgb[i + 1];
      b[o + 2] = rgb[i];
    }
  fs.writeFileSync(file, b);
}

function crop(size, inFile, outFile, x, y) {
  const img = readBmp(inFile);
  if (img.w < size || img.h < size) throw new Error(`${inFile}: smaller than ${size}`);
  const x0 = Math.min(img.w - size, x === undefined ? Math.floor((img.w - size) / 2) : x);
  const y0 = Math.min(img.h - size, y === undefined ? Math.floor((img.h - size) / 2) : y);
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++)
        rgb[(y * size + x) * 3 + c] = img.rgb[((y0 + y) * img.w + x0 + x) * 3 + c];
  writeBmp(outFile, size, size, rgb);
}

async function main() {
  if (process.argv[2] === '--crop') {
    const [size, inFile, outFile, x, y] = process.argv.slice(3);
    crop(parseInt(size, 10), inFile, outFile, x === undefined ? undefined : parseInt(x, 10),
         y === undefined ? undefined : parseInt(y, 10));
    return;
  }
  const [modules, modelFile, ...images] = process.argv.slice(2);
  const wasmDir = path.resolve(modules, '@tensorflow/tfjs-tflite/wasm');
  const factory = require(path.join(wasmDir, 'tflite_web_api_cc_simd.js'));
  const Module = await factory({
    wasmBinary: fs.readFileSync(path.join(wasmDir, 'tflite_web_api_cc_simd.wasm')),
    print: () => {},
    printErr: () => {},
  });
  const model = fs.readFileSync(modelFile);
  const ptr = Module._malloc(model.length);
  Module.HEAPU8.set(model, ptr);
  const created = Module.TFLiteWebModelRunner.CreateFromBufferAndOptions(
      ptr, model.length, {numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024});
  if (!created.ok()) throw new Error(modelFile + ': ' + created.errorMessage());
  const runner = created.value();
  const vec = (v) => { const a = []; for (let i = 0; i < v.size(); i++) a.push(v.get(i)); return a; };
  for (const file of images) {
    const img = readBmp(file);
    const input = vec(runner.GetInputs())[0];
    const buf = input.data();
    if (buf.length !== img.rgb.length)
      throw new Error(`${file}: ${img.w}x${img.h} does not fill the ${buf.length}-value input`);
    if (input.dataType === 'uint8') buf.set(img.rgb);
    else if (input.dataType === 'int8') buf.set(Int8Array.from(img.rgb, (v) => v - 128));
    else buf.set(Float32Array.from(img.rgb, (v) => (v - 127.5) / 127.5));
    if (!runner.Infer()) throw new Error(file + ': inference failed');
    const out = vec(runner.GetOutputs())[0].data();
    let best = 0, second = out.length > 1 ? 1 : 0;
    if (out[second] > out[best]) [best, second] = [second, best];
    for (let i = 2; i < out.length; i++) {
      if (out[i] > out[best]) {
        second = best;
        best = i;
      } else if (out[i] > out[second]) {
        second = i;
      }
    }
    const f = (v) => Number(v).toFixed(5);
    console.log(`${file} ${best} ${f(out[best])} ${second} ${f(out[second])}`);
  }
}

main().catch((e) => { console.error('tflite_check: ' + e.message); process.exit(1); });
