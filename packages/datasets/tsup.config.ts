import { packageBuild } from '../../tsup.shared';

// The decode worker is its own entry: the prefetching loader starts it by file name beside the bundle. `browser` is
// the Node-free subpath (transforms, batching, class names) a web page imports.
export default packageBuild(['src/index.ts', 'src/browser.ts', 'src/cli.ts', 'src/decode_worker.ts'], {
  external: ['sharp'],
});
