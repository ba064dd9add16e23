"""From a node's inputs to decoded outputs: plan, upload, submit, wait, download, decode."""
