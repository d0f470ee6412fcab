import { packageBuild } from '../../tsup.shared';

// The decode worker is its own entry: the prefetching loader starts it by file name beside the bundle.
export default packageBuild(['src/index.ts', 'src/cli.ts', 'src/decode_worker.ts'], { external: ['sharp'] });
