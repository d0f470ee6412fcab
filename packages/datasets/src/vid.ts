import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { boxColumns, checkBox } from './boxes';
import type { ImageDataset } from './coco';
import { formatError } from './errors';
import { readText, requireFile } from './files';
import { childrenNamed, numberChild, optionalChild, parseAnnotation, requiredChild } from './formats/xml';
import { loadSample } from './sample';
import type { ImageRecord } from './types';

/** The 30 ImageNet VID classes as written in the XML (WordNet ids), in the usual label order. */
export const VID_CLASSES = [
  'n02691156',
  'n02419796',
  'n02131653',
  'n02834778',
  'n01503061',
  'n02924116',
  'n02958343',
  'n02402425',
  'n02084071',
  'n02121808',
  'n02503517',
  'n02118333',
  'n02510455',
  'n02342885',
  'n02374451',
  'n02129165',
  'n01674464',
  'n02484322',
  'n03790512',
  'n02324045',
  'n02509815',
  'n02411705',
  'n01726692',
  'n02355227',
  'n02129604',
  'n04468005',
  'n01662784',
  'n04530566',
  'n02062744',
  'n02391049',
] as const;

/** Readable names of VID_CLASSES, same order. */
export const VID_CLASS_NAMES = [
  'airplane',
  'antelope',
  'bear',
  'bicycle',
  'bird',
  'bus',
  'car',
  'cattle',
  'dog',
  'domestic_cat',
  'elephant',
  'fox',
  'giant_panda',
  'hamster',
  'horse',
  'lion',
  'lizard',
  'monkey',
  'motorcycle',
  'rabbit',
  'red_panda',
  'sheep',
  'snake',
  'squirrel',
  'tiger',
  'train',
  'turtle',
  'watercraft',
  'whale',
  'zebra',
] as const;

/** One frame: an image record plus where it sits in its video, and per-box VID flags. */
export interface VidFrameRecord extends ImageRecord {
  video: string;
  frame: number;
  trackIds: Int32Array;
  occluded: Uint8Array;
  generated: Uint8Array;
}

export interface VidVideo {
  name: string;
  /** Indices into `records`, in frame order. */
  frames: number[];
}

export interface VidDataset extends ImageDataset {
  records: VidFrameRecord[];
  videos: VidVideo[];
}

export interface VidLoadOptions {
  /** The ILSVRC folder holding Annotations/VID and Data/VID. */
  root: string;
  split: string;
  /** Names as written in <name>; defaults to the 30 VID WordNet ids. */
  classes?: readonly string[];
}

/**
 * Loads an ImageNet VID split: every folder under Annotations/VID/<split> that holds %06d.xml frames is a
 * video (nested folders, as in the train split, are found too); frames are Data/VID/<split>/<video>/%06d.JPEG.
 * Boxes are taken as continuous xyxy exactly as written (as mmtracking converts them), with per-box track
 * ids, `occluded` and `generated`. Bad XML, unknown names, missing frames (an annotation without its image or
 * an image without its annotation) and boxes outside the image throw naming the file and the object.
 */
export function loadImagenetVid({ root, split, classes = VID_CLASSES }: VidLoadOptions): VidDataset {
  const annotationRoot = join(root, 'Annotations', 'VID', split);
  if (!existsSync(annotationRoot)) throw formatError(annotationRoot, '', 'split folder not found');
  const labelOf = new Map(classes.map((name, i) => [name, i]));
  const records: VidFrameRecord[] = [];
  const videos: VidVideo[] = [];
  for (const dir of videoFolders(annotationRoot)) {
    const name = relative(annotationRoot, dir);
    const frames = readdirSync(dir)
      .filter((f) => f.endsWith('.xml'))
      .sort();
    const video: VidVideo = { name, frames: [] };
    // Every frame image needs its annotation: a frame without one would vanish from its video silently.
    const imageDir = join(root, 'Data', 'VID', split, name);
    const annotated = new Set(frames.map((f) => f.slice(0, -4)));
    const unannotated = existsSync(imageDir)
      ? readdirSync(imageDir).filter((f) => f.endsWith('.JPEG') && !annotated.has(f.slice(0, -5)))
      : [];
    if (unannotated.length > 0) {
      throw formatError(
        join(dir, `${unannotated[0].slice(0, -5)}.xml`),
        `video ${name}`,
        `annotation missing for the frame image ${join(imageDir, unannotated[0])}${unannotated.length > 1 ? ` (and ${unannotated.length - 1} more frames)` : ''}`,
      );
    }
    for (const frameFile of frames) {
      const frame = Number(frameFile.slice(0, -4));
      const file = join(dir, frameFile);
      if (!/^\d+$/.test(frameFile.slice(0, -4)))
        throw formatError(file, '', 'frame annotations must be named by frame number (%06d.xml)');
      const imagePath = join(imageDir, `${frameFile.slice(0, -4)}.JPEG`);
      requireFile(imagePath, file, `video ${name}, frame ${frame}`);
      video.frames.push(records.length);
      records.push(readVidFrame(file, name, frame, imagePath, labelOf));
    }
    videos.push(video);
  }
  return { classes: [...classes], records, videos, get: (index, options) => loadSample(records[index], options) };
}

function videoFolders(dir: string): string[] {
  const entries = readdirSync(dir).sort();
  if (entries.some((e) => e.endsWith('.xml'))) return [dir];
  return entries.filter((e) => statSync(join(dir, e)).isDirectory()).flatMap((e) => videoFolders(join(dir, e)));
}

function readVidFrame(
  file: string,
  video: string,
  frame: number,
  imagePath: string,
  labelOf: Map<string, number>,
): VidFrameRecord {
  const { root, width, height } = parseAnnotation(readText(file, 'annotation'), file);
  const boxes: number[] = [];
  const labels: number[] = [];
  const trackIds: number[] = [];
  const occluded: number[] = [];
  const generated: number[] = [];
  childrenNamed(root, 'object').forEach((object, k) => {
    const trackId = numberChild(object, 'trackid', file, `object ${k}`, true);
    const where = `object ${k} (trackid ${trackId})`;
    if (trackIds.includes(trackId)) throw formatError(file, where, 'duplicate trackid in one frame');
    const name = requiredChild(object, 'name', file, where).text;
    const label = labelOf.get(name);
    if (label === undefined) throw formatError(file, where, `unknown class name ${JSON.stringify(name)}`);
    const bndbox = requiredChild(object, 'bndbox', file, where);
    const box = ['xmin', 'ymin', 'xmax', 'ymax'].map((key) => numberChild(bndbox, key, file, where)) as [
      number,
      number,
      number,
      number,
    ];
    boxes.push(
      ...checkBox(box, width, height, (problem) => {
        throw formatError(file, where, problem);
      }),
    );
    labels.push(label);
    trackIds.push(trackId);
    const flag = (key: string) => {
      const child = optionalChild(object, key);
      return child && child.text === '1' ? 1 : 0;
    };
    occluded.push(flag('occluded'));
    generated.push(flag('generated'));
  });
  return {
    id: `${video}/${String(frame).padStart(6, '0')}`,
    video,
    frame,
    imagePath,
    width,
    height,
    ...boxColumns(boxes, labels),
    trackIds: Int32Array.from(trackIds),
    occluded: Uint8Array.from(occluded),
    generated: Uint8Array.from(generated),
    source: file,
  };
}
