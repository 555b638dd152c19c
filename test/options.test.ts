// Unknown option keys: a misspelt option is ERR_FACESTYLE_ARGUMENT naming it (and the key it was probably
// meant to be), at every public entry point, before any work; it used to be dropped without a word.
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../lib/graph/builder.js';
import { FaceDetector, LandmarkModel, detectFaces } from '../lib/face/detect.js';
import { encodeRgbImage } from '../lib/face/image.js';
import { warpAffine } from '../lib/face/warp.js';
import { optimizeForInference } from '../lib/graph/passes/index.js';
import { loadFaceGenerator } from '../lib/face/model.js';
import { createFaceStylizer, stylize, stylizeFile } from '../lib/face/stylize.js';
import * as is from '../lib/is.js';
import { describeShared, sharedData } from './helpers/shared.js';
import { compile } from '../lib/runtime/session.js';
import { measureVideoFps } from '../lib/video/measure.js';
import { stylizeFrames, stylizeVideo } from '../lib/video/pipeline.js';
import { createVideoStylizer } from '../lib/video/stylizer.js';
import { alignFaces } from '../lib/face/align.js';
import { featherMask, pasteFaces } from '../lib/face/paste.js';
import { Tensor } from '../lib/graph/tensor.js';
import { imageToTensor, saveTensorImage, tensorToImage, tensorToRgb } from '../lib/image/io.js';
import { loadGenerator } from '../lib/nn/load.js';
import { runTraining } from '../lib/train/run.js';
import { exportOnnxBuffer } from '../lib/onnx/export.js';
import { loadOnnx } from '../lib/onnx/import.js';
import { modelInfo } from '../lib/onnx/info.js';
import { checkParity } from '../lib/onnx/parity.js';

const unknown = (key: string, what: string, hint?: string) => ({
  code: 'ERR_FACESTYLE_ARGUMENT',
  message: expect.stringMatching(new RegExp(`^Unknown option '${key}' for ${what}${hint ? `; did you mean '${hint}'\\?` : ' \\('}`)),
});

describe('unknown option keys', () => {
  it('knownOptions names the key, the nearest known one when it is close, and every key it takes', () => {
    expect(() => is.knownOptions('f', { strenght: 1 }, ['strength', 'size'])).toThrow(expect.objectContaining(unknown('strenght', 'f', 'strength')));
    expect(() => is.knownOptions('f', { Threads: 1 }, ['threads'])).toThrow(expect.objectContaining(unknown('Threads', 'f', 'threads')));
    // Nothing near: no guess, but the list of what it takes.
    expect(() => is.knownOptions('f', { colour: 'red' }, ['strength', 'size'])).toThrow(expect.objectContaining({ message: "Unknown option 'colour' for f (it takes: size, strength)" }));
    // Known keys, and unknown ones set to undefined (a spread asking for defaults), pass.
    expect(() => is.knownOptions('f', { size: 3, other: undefined }, ['size'])).not.toThrow();
  });

  it("(review) stylize's list of the keys it takes names each once (limitInputPixels came from two spread lists)", async () => {
    const e = await stylize({ data: new Uint8Array(12), width: 2, height: 2 }, { colourful: 1 } as never).catch((x: Error) => x);
    const list = /\(it takes: ([^)]*)\)/.exec((e as Error).message)?.[1].split(', ') ?? [];
    expect(list).toContain('limitInputPixels');
    expect(list.length).toBeGreaterThan(10);
    expect(new Set(list).size).toBe(list.length);
  });

  it('every entry point of the face and video APIs refuses a misspelt option before it loads or reads anything', async () => {
    const missing = '/nonexistent/photo.jpg'; // never opened: the option check comes first
    await expect(createFaceStylizer({ strenght: 0.5 } as never)).rejects.toMatchObject(unknown('strenght', 'createFaceStylizer', 'strength'));
    await expect(stylize(missing, { mirrorAvg: true } as never)).rejects.toMatchObject(unknown('mirrorAvg', 'stylize'));
    await expect(stylizeFile(missing, '/tmp/never.png', { qualty: 80 } as never)).rejects.toMatchObject(unknown('qualty', 'stylizeFile', 'quality'));
    await expect(detectFaces(missing, { scoreTreshold: 0.2 } as never)).rejects.toMatchObject(unknown('scoreTreshold', 'detectFaces', 'scoreThreshold'));
    await expect(loadFaceGenerator('/nonexistent/model.onnx', { engin: 'native' } as never)).rejects.toMatchObject(unknown('engin', 'loadFaceGenerator', 'engine'));
    await expect(createVideoStylizer({ sise: 64 } as never)).rejects.toMatchObject(unknown('sise', 'createVideoStylizer', 'size'));
    await expect(stylizeVideo('/nonexistent/in.mp4', '/tmp/never.mp4', { fsp: 25 } as never)).rejects.toMatchObject(unknown('fsp', 'stylizeVideo', 'fps'));
    await expect(measureVideoFps('/nonexistent/in.mp4', { repeat: 2 } as never)).rejects.toMatchObject(unknown('repeat', 'measureVideoFps', 'repeats'));
    const frames = stylizeFrames([], { evry: 3 } as never);
    await expect(frames.next()).rejects.toMatchObject(unknown('evry', 'stylizeFrames', 'every'));
    const g = new GraphBuilder('tiny');
    g.output(g.relu(g.input('x', [1, 4])), 'y');
    await expect(compile(g.build(), { thread: 2 } as never)).rejects.toMatchObject(unknown('thread', 'compile', 'threads'));
  });

  it('so do the image, alignment, paste, ONNX and model-loading functions', async () => {
    const g = new GraphBuilder('tiny');
    g.output(g.relu(g.input('x', [1, 4])), 'y');
    const graph = g.build();
    const image = { data: new Uint8Array(16 * 16 * 3), width: 16, height: 16 };
    const crops = new Tensor([1, 3, 8, 8]);
    const missing = '/nonexistent/model.onnx';
    await expect(alignFaces(image, [], { tempalte: 'ffhq' } as never)).rejects.toMatchObject(unknown('tempalte', 'alignFaces', 'template'));
    await expect(pasteFaces(image, crops, [], { strenght: 1 } as never)).rejects.toMatchObject(unknown('strenght', 'pasteFaces', 'strength'));
    expect(() => featherMask(8, { blurr: 2 } as never)).toThrow(expect.objectContaining(unknown('blurr', 'featherMask', 'blur')));
    expect(() => exportOnnxBuffer(graph, { opest: 13 } as never)).toThrow(expect.objectContaining(unknown('opest', 'exportOnnx', 'opset')));
    await expect(checkParity(graph, { atoll: 1e-5 } as never)).rejects.toMatchObject(unknown('atoll', 'checkParity', 'atol'));
    await expect(modelInfo(graph, { sizes: '8x8' } as never)).rejects.toMatchObject(unknown('sizes', 'modelInfo', 'size'));
    expect(() => loadOnnx(missing, { inputShape: {} } as never)).toThrow(expect.objectContaining(unknown('inputShape', 'loadOnnx', 'inputShapes')));
    await expect(loadGenerator('/nonexistent/card.json', { batches: 2 } as never)).rejects.toMatchObject(unknown('batches', 'loadGenerator', 'batch'));
    await expect(imageToTensor(missing, { rnage: [0, 1] } as never)).rejects.toMatchObject(unknown('rnage', 'imageToTensor', 'range'));
    expect(() => tensorToRgb(crops, { channel: 'bgr' } as never)).toThrow(expect.objectContaining(unknown('channel', 'tensorToRgb', 'channels')));
    await expect(tensorToImage(crops, { fromat: 'png' } as never)).rejects.toMatchObject(unknown('fromat', 'tensorToImage', 'format'));
    await expect(saveTensorImage(crops, '/tmp/never.png', { format: 'png' } as never)).rejects.toMatchObject(unknown('format', 'saveTensorImage'));
    await expect(warpAffine(crops, [], 4, 4, { boder: 'constant' } as never)).rejects.toMatchObject(unknown('boder', 'warpAffine', 'border'));
    await expect(encodeRgbImage(image, 'png', { qualty: 80 } as never)).rejects.toMatchObject(unknown('qualty', 'writeRgbImage / encodeRgbImage', 'quality'));
    expect(() => optimizeForInference(graph, { fusePools: false } as never)).toThrow(expect.objectContaining(unknown('fusePools', 'optimizeForInference', 'fusePool')));
    await expect(FaceDetector.load(missing, { engin: 'native' } as never)).rejects.toMatchObject(unknown('engin', 'FaceDetector.load', 'engine'));
    await expect(LandmarkModel.load(missing, { thread: 1 } as never)).rejects.toMatchObject(unknown('thread', 'LandmarkModel.load', 'threads'));
    await expect(runTraining({ pairs: '/nonexistent', out: '/tmp/never-run', checkpointEvry: 10 } as never)).rejects.toMatchObject(unknown('checkpointEvry', 'runTraining', 'checkpointEvery'));
    // What they take still works: tensorToImage hands tensorToRgb only its own keys.
    expect((await tensorToImage(crops, { format: 'png', range: 'unit', channels: 'rgb' })).length).toBeGreaterThan(0);
  });
});

describeShared('unknown option keys: a loaded detector', () => {
  it("detect() refuses them too (the stylizer hands it only the detection options among its own)", async () => {
    const image = { data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 };
    const detector = await FaceDetector.load(sharedData('models/detection/yunet_s_dynamic.onnx'), { engine: 'native', threads: 1 });
    try {
      await expect(detector.detect(image, { scoreTreshold: 0.3 } as never)).rejects.toMatchObject(unknown('scoreTreshold', 'FaceDetector.detect', 'scoreThreshold'));
      expect(await detector.detect(image, { scoreThreshold: 0.3, secondPass: false })).toEqual([]);
    } finally {
      await detector.dispose();
    }
  });
});
