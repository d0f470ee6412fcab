// esbuild's `file` loader turns an imported .wasm file into its URL.
declare module '*.wasm' {
  const url: string;
  export default url;
}
