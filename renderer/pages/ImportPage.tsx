// Import: a wizard over the import API (choose Istio / Gateway API / Linkerd / Consul files, read the
// translation report, apply). The control plane does not expose that API yet (issue 3 is adding the import
// module); until then this screen says so instead of pretending.
import type { ApiClient } from '../api-client';

export function ImportPage(_props: { client: ApiClient }) {
  return (
    <section className="panel" data-testid="import-page">
      <header className="panel-head">
        <h2>Import</h2>
      </header>
      <div className="empty">
        <p>Importing Istio, Gateway API, Linkerd and Consul policy from this screen arrives with the import API.</p>
        <p className="small">Meanwhile, paste translated rules into the mesh file on the Routes &amp; policies screen: it validates as you type.</p>
      </div>
    </section>
  );
}
