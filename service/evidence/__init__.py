"""What a CNSA auditor fetches: evidence bundles (BagIt), the chain of custody, the feed of changes."""
