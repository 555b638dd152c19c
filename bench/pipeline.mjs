// Bench rows for the user-facing pipelines: a 1920x1080 photo with one face and with several faces
// (ms per stage: detect, align, stylize, paste), and video frames per second with the pipeline
// efficiency (pipeline fps / stylize-stage-alone fps, same faces and batches) and the model alone on the
// same crops, the ceiling of both (lib/video/measure.ts). Uses the shipped model and the YuNet detector
// from ../shared/data (or FACESTYLE_DETECTOR).
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

/** The shared data folder: FACESTYLE_DATA, else ../shared/data beside the repository (as bench/run.mjs reads it). */
export function sharedData(root) {
  return path.resolve(process.env.FACESTYLE_DATA || path.join(root, '..', 'shared', 'data'));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Number(x.toFixed(d)));

// The shipped default model, named explicitly: the API compiled into bench/out/dist would look for
// models/ beside that copy.
export function pipelineModel(root) {
  return path.join(root, 'models', 'comic-light.json');
}

export function pipelineDetector(root) {
  return process.env.FACESTYLE_DETECTOR || path.join(sharedData(root), 'models', 'detection', 'yunet_s_dynamic.onnx');
}

// A photo scaled to cover 1920x1080, as raw RGB.
async function photo1080(file) {
  const { data, info } = await sharp(file).rotate().resize(1920, 1080, { fit: 'cover' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

export async function benchFaces(api, root, { quick }) {
  const data = path.join(sharedData(root), 'faces', 'whole');
  const photos = [
    { name: '1920x1080, one face', file: path.join(data, 'animegan2', '1.jpg') },
    { name: '1920x1080, several faces', file: path.join(data, 'dlib_faces', 'bald_guys.jpg') },
  ];
  const detector = pipelineDetector(root);
  const rows = [];
  let stylizer = null;
  try {
    if (!existsSync(detector)) throw new Error(`no detector at ${detector} (set FACESTYLE_DETECTOR)`);
    stylizer = await api.createFaceStylizer({ model: pipelineModel(root), detector, faces: 'all', size: 256 });
    for (const p of photos) {
      const row = { name: p.name, file: path.relative(root, p.file) };
      try {
        const frame = await photo1080(p.file);
        await stylizer.stylizeFrame(frame); // warm-up: model and warp sessions compiled here
        const runs = [];
        for (let i = 0; i < (quick ? 3 : 7); ++i) runs.push(await stylizer.stylizeFrame(frame));
        row.faces = runs[0].faces.length;
        for (const stage of ['detect', 'align', 'stylize', 'paste', 'total']) row[`${stage}Ms`] = round(median(runs.map((r) => r.timings[stage])));
      } catch (e) {
        row.skipped = String(e?.message ?? e).split('\n')[0];
      }
      rows.push(row);
    }
  } catch (e) {
    for (const p of photos) rows.push({ name: p.name, skipped: String(e?.message ?? e).split('\n')[0] });
  } finally {
    await stylizer?.dispose?.();
  }
  return rows;
}

export async function benchVideo(api, root, { quick }) {
  const clips = ['short_hamilton_clip.mp4', '908.mp4'].map((f) => path.join(sharedData(root), 'video', f));
  const detector = pipelineDetector(root);
  const rows = [];
  // The first 60 frames of each clip (24 with --quick), and in a full run also the whole of a clip that is
  // longer than that (short_hamilton_clip: 275 frames), where the ~0.3 s of process start-ups and the first
  // batches weigh less. Rows are told apart by `frames`.
  const runs = clips.map((clip) => ({ clip, maxFrames: quick ? 24 : 60, repeats: quick ? 1 : 3 }));
  if (!quick) runs.push({ clip: clips[0], maxFrames: 100000, repeats: 2 });
  for (const { clip, maxFrames, repeats } of runs) {
    const row = { name: path.basename(clip) };
    try {
      if (!api.measureVideoFps) throw new Error('lib/video measureVideoFps is not available');
      if (!existsSync(detector)) throw new Error(`no detector at ${detector} (set FACESTYLE_DETECTOR)`);
      const r = await api.measureVideoFps(clip, { model: pipelineModel(root), detector, size: 256, batch: 4, maxFrames, repeats });
      Object.assign(row, { frames: r.frames, faces: r.faces, pipelineFps: round(r.pipelineFps, 2), stylizeFps: round(r.stylizeFps, 2), modelFps: round(r.modelFps, 2), detectFps: round(r.detectFps, 2), efficiency: round(r.efficiency, 2), modelEfficiency: round(r.modelEfficiency, 2) });
      if (r.cpu) Object.assign(row, { stageCores: round(r.cpu.stageCores, 2), pipelineCores: round(r.cpu.pipelineCores, 2), otherCpuMsPerFrame: round(r.cpu.otherCpuMsPerFrame, 1), ffmpegCpuMsPerFrame: round(r.cpu.ffmpegCpuMsPerFrame, 1), efficiencyBound: round(r.cpu.efficiencyBound, 2) });
    } catch (e) {
      row.skipped = String(e?.message ?? e).split('\n')[0];
    }
    rows.push(row);
  }
  return rows;
}

export function pipelineMarkdown(r) {
  const L = [];
  const cell = (v) => (v == null ? '' : String(v));
  if (r.faces?.length) {
    L.push('## Faces: one photo, ms per stage (shipped model, crop 256, YuNet s dynamic)', '', '| photo | faces | detect | align | stylize | paste | total | note |', '|---|---|---|---|---|---|---|---|');
    for (const f of r.faces) L.push(`| ${f.name} | ${cell(f.faces)} | ${cell(f.detectMs)} | ${cell(f.alignMs)} | ${cell(f.stylizeMs)} | ${cell(f.pasteMs)} | ${cell(f.totalMs)} | ${f.skipped ? `skipped: ${f.skipped}` : ''} |`);
    L.push('');
  }
  if (r.video?.length) {
    L.push(
      '## Video: frames per second (shipped model, crop 256, batch 4, default detection every 5 frames)',
      '',
      'efficiency = pipeline fps / stylize-stage-alone fps (align, model, paste one batch after the other, same faces); the model alone on the same crops is the ceiling.',
      'CPU: the cores each run kept busy on average (this process, plus ffmpeg and ffprobe for the pipeline), the pipeline\'s CPU ms per frame beyond the stage\'s work (ffmpeg\'s share in brackets), and the efficiency bound: the efficiency the pipeline would have if its CPU work kept every core busy (cores x stage time / pipeline CPU time). Where the stage alone already fills the cores, only less work raises the bound.',
      '',
      '| clip | frames | faces | pipeline fps | stylize-alone fps | model-alone fps | efficiency | pipeline / model | stage cores | pipeline cores | other CPU ms / frame (ffmpeg) | efficiency bound | note |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const v of r.video)
      L.push(
        `| ${v.name} | ${cell(v.frames)} | ${cell(v.faces)} | ${cell(v.pipelineFps)} | ${cell(v.stylizeFps)} | ${cell(v.modelFps)} | ${cell(v.efficiency)} | ${cell(v.modelEfficiency)} | ${cell(v.stageCores)} | ${cell(v.pipelineCores)} | ${v.otherCpuMsPerFrame == null ? '' : `${v.otherCpuMsPerFrame} (${v.ffmpegCpuMsPerFrame})`} | ${cell(v.efficiencyBound)} | ${v.skipped ? `skipped: ${v.skipped}` : ''} |`,
      );
    L.push('');
  }
  return L.join('\n');
}
