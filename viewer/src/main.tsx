// Entry point: mount the live viewer once the server has said which file it serves.
import '@h5web/app/styles.css';
import './live.css';

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { fetchServedFile } from './served-file';
import LiveViewer from './LiveViewer';

const root = createRoot(document.getElementById('root') as HTMLElement);

fetchServedFile().then(
  (served) => {
    root.render(
      <StrictMode>
        <LiveViewer served={served} />
      </StrictMode>,
    );
  },
  (error: unknown) => {
    root.render(<p className="live-error">Cannot reach the aioh5saver server: {String(error)}</p>);
  },
);
