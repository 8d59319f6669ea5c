// h5web's viewer on the local h5grove API, reloaded every few seconds while "live" is on, so
// that rows a writer appends (and arrays it adds) show without reloading the page.
import { App, H5GroveProvider } from '@h5web/app';
import { useEffect, useState } from 'react';

import type { ServedFile } from './served-file';

interface Props {
  served: ServedFile;
}

function LiveViewer(props: Props) {
  const { served } = props;
  const [live, setLive] = useState(true);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    if (!live) {
      return undefined;
    }
    const timer = window.setInterval(() => {
      setGeneration((previous) => previous + 1);
    }, served.refreshSeconds * 1000);
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
        <button type="button" onClick={() => setGeneration((previous) => previous + 1)}>
          reload now
        </button>
        <span className="live-generation" data-testid="live-generation">
          #{generation}
        </span>
      </header>
      <main className="live-app">
        <H5GroveProvider url="api" filepath={served.file} resetKeys={[generation]}>
          <App sidebarOpen initialPath={served.initialPath} />
        </H5GroveProvider>
      </main>
    </div>
  );
}

export default LiveViewer;
