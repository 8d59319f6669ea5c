// h5web's viewer on the local h5grove API, reloaded while "live" is on, so that rows a writer
// appends (and arrays it adds) show without reloading the page.
//
// A reload gives h5web a new provider (its `resetKeys`), which drops every cached entity and
// value. It happens at most every `refreshSeconds`, and only once the previous reload's
// requests have all been answered, so that a slow read (a large image) is never cut short by
// the next one. (Not as a React transition: h5web makes its stores while rendering, and a
// transition that suspends throws them away and starts again, forever.)
import type { Fetcher } from '@h5web/app';
import { App, H5GroveProvider, createBasicFetcher } from '@h5web/app';
import { useEffect, useMemo, useRef, useState } from 'react';

import type { ServedFile } from './served-file';

interface Props {
  served: ServedFile;
}

// How often the page checks whether a reload is due, in milliseconds.
const TICK_MS = 200;

function LiveViewer(props: Props) {
  const { served } = props;
  const [live, setLive] = useState(true);
  const [generation, setGeneration] = useState(0);
  const pending = useRef(0);
  const lastReload = useRef(Date.now());

  // h5web's own fetcher, counting the requests not yet answered.
  const fetcher = useMemo<Fetcher>(() => {
    const basic = createBasicFetcher();
    return async (url, params, opts) => {
      pending.current += 1;
      try {
        return await basic(url, params, opts);
      } finally {
        pending.current -= 1;
      }
    };
  }, []);

  function reload() {
    lastReload.current = Date.now();
    setGeneration((previous) => previous + 1);
  }

  useEffect(() => {
    if (!live) {
      return undefined;
    }
    const timer = window.setInterval(() => {
      const due = Date.now() - lastReload.current >= served.refreshSeconds * 1000;
      if (due && pending.current === 0) {
        reload();
      }
    }, TICK_MS);
    return () => window.clearInterval(timer);
  }, [live, served.refreshSeconds]);

  return (
    <div className="live-page">
      <header className="live-bar">
        <strong>aioh5saver view</strong>
        <span className="live-file" title={served.file}>
          {served.file}
        </span>
        <label className="live-toggle">
          <input
            type="checkbox"
            checked={live}
            onChange={(event) => setLive(event.target.checked)}
            data-testid="live-toggle"
          />
          live (every {served.refreshSeconds} s)
        </label>
        <button type="button" onClick={reload}>
          reload now
        </button>
        <span className="live-generation" data-testid="live-generation">
          #{generation}
        </span>
      </header>
      <main className="live-app">
        <H5GroveProvider
          url={served.apiUrl}
          filepath={served.file}
          fetcher={fetcher}
          resetKeys={[generation]}
        >
          <App sidebarOpen initialPath={served.initialPath} />
        </H5GroveProvider>
      </main>
    </div>
  );
}

export default LiveViewer;
