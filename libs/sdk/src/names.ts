/** "iris" → "projects/default/datasets/iris"; full names pass through. */
export function resourceName(project: string, collection: string, name: string): string {
  return name.startsWith("projects/") ? name : `projects/${project}/${collection}/${name}`;
}

/** "projects/p/datasets/iris" → "iris". */
export function shortName(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}
