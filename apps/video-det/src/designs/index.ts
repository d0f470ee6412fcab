import { argumentError } from '@deformjs/core';
import type { VideoDesignKind } from '../design';
import { dff } from './dff';
import { fgfa } from './fgfa';
import { mobile } from './mobile';
import { perFrame } from './per_frame';
import { tracking } from './tracking';
import { unified } from './unified';

/** Every design the app trains, in the order of tables and `--help`. A new design registers here, once. */
export const DESIGNS: readonly VideoDesignKind[] = [
  perFrame,
  dff,
  fgfa,
  unified,
  mobile,
  tracking,
] as VideoDesignKind[];

export function designKind(name: string): VideoDesignKind {
  const kind = DESIGNS.find((d) => d.name === name);
  if (!kind) throw argumentError('designKind', 'name', `one of ${DESIGNS.map((d) => d.name).join(', ')}`, name);
  return kind;
}
