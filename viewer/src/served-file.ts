// What the server says about the file it serves (GET api/info): its name and refresh period.

export interface ServedFile {
  /** The file's name, sent back as h5grove's `file` query argument. */
  file: string;
  /** How often, in seconds, the live view reloads the file's tree and values by default. */
  refreshSeconds: number;
  /** The API's absolute address (h5web builds export links with `new URL`). */
  apiUrl: string;
  /** The node shown first: the page's `?path=` argument, else the root. */
  initialPath: string;
}

export async function fetchServedFile(): Promise<ServedFile> {
  const response = await fetch('api/info');
  if (!response.ok) {
    throw new Error(`api/info answered ${response.status} ${response.statusText}`);
  }
  const body = (await response.json()) as { file: string; refresh_seconds: number };
  const initialPath = new URLSearchParams(window.location.search).get('path') ?? '/';
  const apiUrl = new URL('api', window.location.href).href;
  return { file: body.file, refreshSeconds: body.refresh_seconds, apiUrl, initialPath };
}
