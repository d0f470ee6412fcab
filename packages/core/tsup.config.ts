import { packageBuild } from '../../tsup.shared';
import { tfjsGradients } from './tfjs_gradients_plugin';

// tfjs-core's gradient definitions are bundled by the plugin; everything else of tfjs-core stays external.
export default packageBuild(['src/index.ts', 'src/testing.ts', 'src/node.ts', 'src/bench.ts'], {
  noExternal: [/^@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
  esbuildPlugins: [tfjsGradients()],
});
