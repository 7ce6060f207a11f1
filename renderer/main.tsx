// Entry of the UI bundle (dist/renderer/app.js). The same bundle runs in a browser tab and in the
// Electron window; in Electron the preload adds `window.devmesh` and nothing else.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { takeToken } from './api-client';
import { App } from './App';

declare global {
  interface Window {
    /** Set by the Electron preload (src/electron/preload.cts); absent in a browser. */
    devmesh?: import('../src/contract/ipc').ShellBridge;
  }
}

// Read before the first render: takeToken rewrites the fragment.
const firstToken = takeToken();

/**
 * devmesh prints a new token on every start. Pasting the new URL into the open tab only changes
 * the fragment (no reload), so a fragment carrying a token swaps the token in place.
 */
function Root() {
  const [token, setToken] = useState(firstToken);
  useEffect(() => {
    const onHashChange = () => {
      if (/(^#|[?&])token=/.test(window.location.hash)) setToken(takeToken());
    };
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);
  return <App key={token ?? ''} token={token} />;
}

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
