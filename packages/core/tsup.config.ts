import { packageBuild } from '../../tsup.shared';

export default packageBuild(['src/index.ts', 'src/testing.ts', 'src/node.ts'], {
  noExternal: [/^@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
});
