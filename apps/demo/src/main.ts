// The demo page: an image (dropped, picked, or the built-in shapes sample), a backend, a Deformable DETR (the seeded
// built-in model or a checkpoint from apps/detect's trainer), its detections with per-stage timings, and the DCN
// sampling-point view. State the tests read is published on `window.demo`.
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@deformjs/core';
import type { RgbImage } from '@deformjs/datasets/browser';
import { prepareImage, type Detections } from '@deformjs/detect-app/browser';
import {
  loadDemoDetector,
  medianTimes,
  seededCheckpoint,
  STAGES,
  type DemoDetector,
  type StageTimes,
} from './detection';
import { SamplingPointsView, type SamplingPoint } from './sampling_points';
import { wasmUrls } from './wasm_urls';

const STEADY_RUNS = 3;
const MAX_BOXES = 10;
/** The longer side of both views, in CSS pixels. */
const CANVAS_SIZE = 384;
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const statusLine = $<HTMLParagraphElement>('status');
const detectionsCanvas = $<HTMLCanvasElement>('detections');
const dcnCanvas = $<HTMLCanvasElement>('dcn');
const backendSelect = $<HTMLSelectElement>('backend');
const threshold = $<HTMLInputElement>('threshold');

/** What the page shows and the tests read. */
export interface DemoState {
  backend: string;
  busy: boolean;
  error: string;
  model: string;
  image: { width: number; height: number } | null;
  detections: { scores: number[]; labels: number[]; boxes: number[] } | null;
  /** The first call of this backend and model, the median of the last steady calls, and those calls. */
  times: { first: StageTimes | null; steady: StageTimes | null; runs: StageTimes[] };
  points: SamplingPoint[][] | null;
}

const state: DemoState = {
  backend: '',
  busy: false,
  error: '',
  model: '',
  image: null,
  detections: null,
  times: { first: null, steady: null, runs: [] },
  points: null,
};
(window as unknown as { demo: DemoState }).demo = state;

let image: RgbImage | null = null;
let detector: DemoDetector | null = null;
let detections: Detections | null = null;
/** Made once a backend runs (its layers are tensors). */
let view: SamplingPointsView | null = null;
/** Backend and model pairs that have run once (the first call compiles shaders, warms caches). */
const warmed = new Set<string>();
let modelId = 0;

function setStatus(text: string, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', error);
  state.error = error ? text : '';
}

/** Runs one user action at a time; any error lands in the status line. */
async function act(label: string, action: () => Promise<void> | void): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  setStatus(`${label}...`);
  try {
    // Out of the event handler first: the status line paints, and the click returns while the model runs.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await action();
    if (!state.error) setStatus('Ready.');
  } catch (error) {
    setStatus(`${label} failed: ${error instanceof Error ? error.message : String(error)}`, true);
  } finally {
    state.busy = false;
  }
}

async function decodeImage(blob: Blob): Promise<RgbImage> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d')!;
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const data = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) data.set(rgba.subarray(i, i + 3), j);
  return { data, width: bitmap.width, height: bitmap.height };
}

function setImage(next: RgbImage) {
  image = next;
  const scale = CANVAS_SIZE / Math.max(next.width, next.height);
  for (const canvas of [detectionsCanvas, dcnCanvas]) {
    canvas.width = Math.round(next.width * scale);
    canvas.height = Math.round(next.height * scale);
  }
  state.image = { width: next.width, height: next.height };
  detections = null;
  state.detections = null;
  state.points = null;
  prepareView();
  draw();
}

/** Feeds the DCN view the image as the model sees it (the checkpoint's transforms). */
function prepareView() {
  if (!image || !detector || !view) return;
  const prepared = prepareImage(image, detector.saved.detectTransforms);
  const input = tf.tensor4d(prepared.image, [1, prepared.height, prepared.width, 3]);
  try {
    view.setImage(input);
  } finally {
    input.dispose();
  }
  viewSize = { width: prepared.width, height: prepared.height };
}
let viewSize = { width: 1, height: 1 };

async function loadModel(bytes: Uint8Array, name: string) {
  const next = loadDemoDetector(bytes, name);
  detector?.dispose();
  detector = next;
  modelId++;
  const { saved } = next;
  state.model = `${name}: ${saved.detector}, ${saved.classes.length} classes (${saved.classes.join(', ')})`;
  $('model').textContent = `Model: ${state.model}`;
  detections = null;
  state.detections = null;
  state.times = { first: null, steady: null, runs: [] };
  prepareView();
  draw();
}

async function setBackend(name: string) {
  await initBackend(name as BackendName, { wasmPaths: wasmUrls });
  state.backend = tf.getBackend();
}

async function detect() {
  if (!image || !detector) throw new Error('load an image and a model first');
  const key = `${state.backend}/${modelId}`;
  if (!warmed.has(key)) {
    const first = detector.detect(image);
    detections = first.detections;
    state.times.first = first.times;
    warmed.add(key);
  }
  const runs: StageTimes[] = [];
  for (let i = 0; i < STEADY_RUNS; i++) {
    const run = detector.detect(image);
    detections = run.detections;
    runs.push(run.times);
  }
  state.times.runs = runs;
  state.times.steady = medianTimes(runs);
  state.detections = {
    scores: Array.from(detections!.scores),
    labels: Array.from(detections!.labels),
    boxes: Array.from(detections!.boxes),
  };
  showTimes();
  draw();
}

function showTimes() {
  const format = (t: StageTimes | null, stage: keyof StageTimes) => (t ? t[stage].toFixed(1) : '');
  $('timings').querySelector('tbody')!.innerHTML = [...STAGES, 'total']
    .map(
      (stage) =>
        `<tr><td>${stage}</td><td>${format(state.times.first, stage as keyof StageTimes)}</td><td>${format(state.times.steady, stage as keyof StageTimes)}</td></tr>`,
    )
    .join('');
}

/** Draws the image scaled to the canvas, the detections above the threshold, and the picked sampling points. */
function draw() {
  $('threshold-value').textContent = Number(threshold.value).toFixed(2);
  for (const canvas of [detectionsCanvas, dcnCanvas]) {
    const context = canvas.getContext('2d')!;
    context.clearRect(0, 0, canvas.width, canvas.height);
    if (image) context.drawImage(imageCanvas(image), 0, 0, canvas.width, canvas.height);
  }
  if (image && detections && detector) drawDetections(detectionsCanvas.getContext('2d')!, image, detections);
  if (state.points) drawPoints(dcnCanvas.getContext('2d')!, state.points);
}

function imageCanvas({ data, width, height }: RgbImage): OffscreenCanvas {
  const canvas = new OffscreenCanvas(width, height);
  const rgba = new ImageData(width, height);
  for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
    rgba.data.set(data.subarray(j, j + 3), i);
    rgba.data[i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
  return canvas;
}

function drawDetections(context: CanvasRenderingContext2D, { width, height }: RgbImage, found: Detections) {
  const [sx, sy] = [detectionsCanvas.width / width, detectionsCanvas.height / height];
  const minScore = Number(threshold.value);
  context.lineWidth = 2;
  context.font = '12px system-ui, sans-serif';
  let shown = 0;
  for (let i = 0; i < found.scores.length && shown < MAX_BOXES; i++) {
    if (found.scores[i] < minScore) continue;
    shown++;
    const [x1, y1, x2, y2] = found.boxes.subarray(4 * i, 4 * i + 4);
    const color = COLORS[found.labels[i] % COLORS.length];
    context.strokeStyle = color;
    context.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    const text = `${detector!.saved.classes[found.labels[i]]} ${found.scores[i].toFixed(2)}`;
    context.fillStyle = color;
    context.fillRect(x1 * sx, y1 * sy - 14, context.measureText(text).width + 4, 14);
    context.fillStyle = '#fff';
    context.fillText(text, x1 * sx + 2, y1 * sy - 3);
  }
}

function drawPoints(context: CanvasRenderingContext2D, levels: SamplingPoint[][]) {
  const [sx, sy] = [dcnCanvas.width / viewSize.width, dcnCanvas.height / viewSize.height];
  const colors = ['220, 30, 30', '30, 90, 220'];
  // The bottom layer first, so the top layer's points stay visible.
  levels.forEach((_, l) => {
    const level = levels.length - 1 - l;
    for (const p of levels[level]) {
      context.fillStyle = `rgba(${colors[level]}, ${0.25 + 0.75 * p.modulation})`;
      context.beginPath();
      context.arc((p.x + 0.5) * sx, (p.y + 0.5) * sy, level === 0 ? 5 : 3, 0, 2 * Math.PI);
      context.fill();
    }
  });
  context.strokeStyle = '#000';
  context.lineWidth = 2;
  context.strokeRect((picked.x + 0.5) * sx - 6, (picked.y + 0.5) * sy - 6, 12, 12);
}
/** The output position whose sampling points are shown, in the model input's pixels. */
let picked = { x: 0, y: 0 };

dcnCanvas.addEventListener('click', (event) => {
  if (!image || !detector || !view) return;
  const rect = dcnCanvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - rect.left) / rect.width) * viewSize.width);
  const y = Math.floor(((event.clientY - rect.top) / rect.height) * viewSize.height);
  picked = { x, y };
  state.points = view.points(x, y);
  draw();
});

$('image-file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) void act(`Reading ${file.name}`, async () => setImage(await decodeImage(file)));
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file) void act(`Reading ${file.name}`, async () => setImage(await decodeImage(file)));
});
$('sample').addEventListener('click', () => void act('Loading the sample', loadSample));
$('checkpoint-file').addEventListener('change', (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file)
    void act(`Loading ${file.name}`, async () => loadModel(new Uint8Array(await file.arrayBuffer()), file.name));
});
$('seeded').addEventListener('click', () => void act('Building the seeded model', loadSeeded));
backendSelect.addEventListener(
  'change',
  () => void act(`Starting ${backendSelect.value}`, () => setBackend(backendSelect.value)),
);
$('detect').addEventListener('click', () => void act('Detecting', detect));
threshold.addEventListener('input', draw);

async function loadSample() {
  const response = await fetch(new URL('shapes-sample.png', document.baseURI));
  if (!response.ok) throw new Error(`shapes-sample.png: HTTP ${response.status}`);
  setImage(await decodeImage(await response.blob()));
}

async function loadSeeded() {
  await loadModel(seededCheckpoint(), 'seeded model (untrained)');
}

/** WebGPU is offered when the browser gives an adapter (headless Chromium needs --enable-unsafe-webgpu). */
async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  return (await gpu?.requestAdapter().catch(() => null)) != null;
}

async function start() {
  const backends = ['wasm', 'webgl', ...((await hasWebGpu()) ? ['webgpu'] : [])];
  backendSelect.innerHTML = backends.map((b) => `<option>${b}</option>`).join('');
  await setBackend('wasm');
  view = new SamplingPointsView();
  await loadSeeded();
  await loadSample();
  showTimes();
}

void act('Starting wasm and the seeded model', start);
