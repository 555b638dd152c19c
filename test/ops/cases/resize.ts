import type { OpCase } from '../case.js';

const coordinateModes = ['half_pixel', 'align_corners', 'asymmetric', 'pytorch_half_pixel'];
const nearestModes = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

// Up and down, by scales and by sizes, with scales that put coordinates exactly on rounding ties
// (x2, x0.5) and ones that do not (x1.5, 7 -> 3).
const geometries: { label: string; shape: number[]; attrs: { scales?: number[]; sizes?: number[] } }[] = [
  { label: 'up x2 by scales', shape: [1, 2, 3, 4], attrs: { scales: [1, 1, 2, 2] } },
  { label: 'down x0.5 by scales', shape: [1, 2, 6, 8], attrs: { scales: [1, 1, 0.5, 0.5] } },
  { label: 'up [1.5,2.5] by scales', shape: [2, 1, 4, 3], attrs: { scales: [1, 1, 1.5, 2.5] } },
  { label: 'down 7x5 -> 3x2 by sizes', shape: [1, 3, 7, 5], attrs: { sizes: [1, 3, 3, 2] } },
  { label: 'up 3x4 -> 7x9 by sizes', shape: [1, 2, 3, 4], attrs: { sizes: [1, 2, 7, 9] } },
];

export const cases: OpCase[] = [];
for (const g of geometries)
  for (const coordinate_transformation_mode of coordinateModes) {
    cases.push({ op: 'Resize', label: `linear ${coordinate_transformation_mode} ${g.label}`, inputs: [g.shape], attrs: { mode: 'linear', coordinate_transformation_mode, ...g.attrs } });
    for (const nearest_mode of nearestModes)
      cases.push({ op: 'Resize', label: `nearest ${coordinate_transformation_mode} ${nearest_mode} ${g.label}`, inputs: [g.shape], attrs: { mode: 'nearest', coordinate_transformation_mode, nearest_mode, ...g.attrs } });
  }
cases.push(
  { op: 'Resize', label: 'linear 1x1 spatial up to 3x3', inputs: [[1, 4, 1, 1]], attrs: { mode: 'linear', sizes: [1, 4, 3, 3] } },
  { op: 'Resize', label: 'linear align_corners down to 1x1', inputs: [[1, 2, 5, 4]], attrs: { mode: 'linear', coordinate_transformation_mode: 'align_corners', sizes: [1, 2, 1, 1] } },
  { op: 'Resize', label: 'linear pytorch_half_pixel down to 1 row', inputs: [[1, 2, 5, 4]], attrs: { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel', sizes: [1, 2, 1, 6] } },
  { op: 'Resize', label: 'linear rank 3 (last two axes)', inputs: [[3, 4, 5]], attrs: { mode: 'linear', scales: [1, 2, 0.6] } },
  // Nearest exact x2 on the last two axes (the FPN upsampling: planes walked directly), also batched and large
  // enough to be split between threads; x2 on the last axis only takes the general path.
  { op: 'Resize', label: 'nearest x2 (planes path), batch 2, odd sizes', inputs: [[2, 3, 5, 7]], attrs: { mode: 'nearest', scales: [1, 1, 2, 2], coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } },
  { op: 'Resize', label: 'nearest x2 (planes path), large', inputs: [[1, 16, 24, 40]], attrs: { mode: 'nearest', scales: [1, 1, 2, 2], coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } },
  { op: 'Resize', label: 'nearest x2 on the last axis only', inputs: [[1, 3, 5, 7]], attrs: { mode: 'nearest', scales: [1, 1, 1, 2], coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } },
  // Over the size where planes are split between the session's threads (ranges of planes, a row cache each).
  { op: 'Resize', label: 'linear up x2, large (planes split between threads)', inputs: [[1, 13, 24, 40]], attrs: { mode: 'linear', scales: [1, 1, 2, 2] } },
  { op: 'Resize', label: 'nearest on the channel and batch axes', inputs: [[2, 3, 2, 2]], attrs: { mode: 'nearest', scales: [1.5, 2, 1, 1], coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } },
  { op: 'Resize', label: 'nearest identity scales', inputs: [[1, 3, 5, 4]], attrs: { mode: 'nearest', scales: [1, 1, 1, 1] } },
  // Where float32 and float64 disagree: 0.7 * 10 is 7 in float32 (6.99.. in float64), and 5 -> 3
  // by sizes puts a half_pixel coordinate at 2 in float32 (1.99.. in float64), which floor sees.
  { op: 'Resize', label: 'nearest scale 0.7 of 10 (float32 output size)', inputs: [[1, 1, 10, 10]], attrs: { scales: [1, 1, 0.7, 0.7] } },
  { op: 'Resize', label: 'nearest floor 5 -> 3 by sizes (float32 coordinate)', inputs: [[1, 1, 5, 5]], attrs: { nearest_mode: 'floor', sizes: [1, 1, 3, 3] } },
  { op: 'Resize', label: 'nearest round_prefer_ceil scales 1/3', inputs: [[1, 1, 9, 6]], attrs: { nearest_mode: 'round_prefer_ceil', scales: [1, 1, 1 / 3, 1 / 3] } },
  { op: 'Resize', label: 'linear scales 1/3', inputs: [[1, 1, 9, 6]], attrs: { mode: 'linear', scales: [1, 1, 1 / 3, 1 / 3] } },
  { op: 'Resize', label: 'linear asymmetric rank 2 [2.5,1.3]', inputs: [[3, 4]], attrs: { mode: 'linear', coordinate_transformation_mode: 'asymmetric', scales: [2.5, 1.3] } },
  { op: 'Resize', label: 'nearest rank 5', inputs: [[1, 2, 3, 2, 2]], attrs: { scales: [1, 1, 2, 1.5, 0.5] } },
  // Large enough for the CPU kernel's row chunks on several threads: exact x2 (the FPN upsampling path),
  // and x2 / x3 where rows repeat but columns do not follow the x2 pattern.
  { op: 'Resize', label: 'nearest x2 asymmetric floor, several row chunks', inputs: [[1, 16, 40, 41]], attrs: { scales: [1, 1, 2, 2], coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' } },
  { op: 'Resize', label: 'nearest x2 half_pixel, several row chunks', inputs: [[2, 8, 33, 40]], attrs: { scales: [1, 1, 2, 2] } },
  { op: 'Resize', label: 'nearest [2,3], several row chunks', inputs: [[1, 12, 33, 21]], attrs: { scales: [1, 1, 2, 3] } },
);
