// Types of browser-bundle.mjs, for the TypeScript tests that import it (apps/demo).
export interface WorkspacePackage {
  dir: string;
  json: { name: string; private?: boolean; dependencies?: Record<string, string> };
}
export function workspacePackages(root: string): WorkspacePackage[];
export function nodeOnlyPackages(packages: WorkspacePackage[]): Set<string>;
export function browserBundleProblems(build: unknown, resolveDir: string, name: string): Promise<string[]>;
