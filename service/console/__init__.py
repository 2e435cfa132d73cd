"""The console: pages for people (ARS reviewers, CNSA auditors, porteurs, vendors), rendered on
the server in French over the API's own use cases, with server-side sessions and CSRF tokens."""
